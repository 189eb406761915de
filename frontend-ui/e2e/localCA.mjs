// The local CA of `make run HTTPS=1`, for the HTTPS browser test: the
// project's devcert makes the CA and the hub's certificate (as
// scripts/run-local.sh does, into a temporary directory), and an NSS
// database in a temporary HOME trusts the CA the way a person trusting it
// on Linux does (Chromium reads $HOME/.pki/nssdb).
//
// Environment (optional):
//   DEVCERT_BIN  a built devcert (default: go build ./cmd/devcert into the temporary directory)

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './system.mjs';

function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { cwd: repoRoot, encoding: 'utf8' });
  if (r.error?.code === 'ENOENT') throw new Error(`${what}: ${cmd} not found`);
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}):\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/**
 * Makes a local CA and a certificate for this machine's names (localhost,
 * 127.0.0.1, its LAN addresses) under a new temporary directory. Returns the
 * PEM files' paths: { dir, ca, cert, key }.
 */
export function makeLocalCA({ port = 8080 } = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fe-e2e-tls-'));
  let bin = process.env.DEVCERT_BIN;
  if (!bin || !existsSync(bin)) {
    bin = path.join(dir, 'devcert');
    run('go', ['build', '-o', bin, './cmd/devcert'], 'go build ./cmd/devcert');
  }
  const tlsDir = path.join(dir, 'tls');
  run(bin, ['-dir', tlsDir, '-port', String(port), '-qr=false'], 'devcert');
  const files = { dir, ca: path.join(tlsDir, 'ca.pem'), cert: path.join(tlsDir, 'cert.pem'), key: path.join(tlsDir, 'key.pem') };
  for (const f of [files.ca, files.cert, files.key]) {
    if (!existsSync(f)) throw new Error(`devcert made no ${f}`);
  }
  return files;
}

/**
 * A new temporary HOME whose NSS database (~/.pki/nssdb) trusts the CA in
 * `caFile` to identify web sites, or trusts nothing when `caFile` is null.
 * Returns the HOME's path.
 */
export function homeTrusting(caFile) {
  const home = mkdtempSync(path.join(os.tmpdir(), 'fe-e2e-home-'));
  const db = `sql:${path.join(home, '.pki', 'nssdb')}`;
  mkdirSync(path.join(home, '.pki', 'nssdb'), { recursive: true });
  try {
    execFileSync('certutil', ['-N', '-d', db, '--empty-password'], { stdio: 'pipe' });
    if (caFile) execFileSync('certutil', ['-A', '-d', db, '-n', 'webcamhub e2e local CA', '-t', 'C,,', '-i', caFile], { stdio: 'pipe' });
  } catch (err) {
    if (err.code === 'ENOENT') throw new Error('certutil not found: apt-get install libnss3-tools (make test-deps does)');
    throw new Error(`certutil failed: ${err.stderr ?? err.message}`);
  }
  return home;
}
