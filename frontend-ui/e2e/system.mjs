// Starts the real system for the browser tests: the Go hub (with its embedded
// NATS) and one real Python worker with a real TFLite MobileNetV2, on free
// ports. It can stop and start the hub on the same ports (reconnect tests).
//
// Environment (all optional):
//   HUB_BIN          a built hub binary (default: go build -o <repo>/.bin/hub ./cmd/hub)
//   SHARED_TESTDATA  the shared test data (default: <repo>/../shared/testdata)
//   WORKER_PYTHON    the Python of the worker (default: <repo>/.venv/bin/python)
//   WORKER_MODELS_DIR a model repository (<name>/<version>/<file>) for the worker
//                    instead of the one MobileNetV2 file (the `modelsDir` option wins)
//   E2E_LOG          set to 1 to echo the hub's and the worker's logs
//
// With `tls` ({ cert, key, ca }: PEM files, e.g. from ./localCA.mjs) the hub
// serves HTTPS/WSS (HUB_TLS_CERT/HUB_TLS_KEY) and its readiness is polled
// over HTTPS trusting only that CA.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const frontendDir = path.resolve(here, '..');
export const repoRoot = path.resolve(frontendDir, '..');
export const sharedTestdata = process.env.SHARED_TESTDATA || path.resolve(repoRoot, '..', 'shared', 'testdata');
export const testOutputDir = path.join(repoRoot, 'test-output');

/** A TCP port nobody listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * GET `url` with node's own client (fetch cannot be told a CA): over https
 * it trusts only `ca` (PEM). Resolves { status, headers, body }.
 */
export function httpGet(url, { ca, timeoutMs = 3_000 } = {}) {
  const client = new URL(url).protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.get(url, { ca, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** Builds the hub unless HUB_BIN names one; returns the binary's path. */
export function hubBinary() {
  if (process.env.HUB_BIN && existsSync(process.env.HUB_BIN)) return process.env.HUB_BIN;
  const out = path.join(repoRoot, '.bin', 'hub');
  const r = spawnSync('go', ['build', '-o', out, './cmd/hub'], { cwd: repoRoot, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`go build ./cmd/hub failed (exit ${r.status})`);
  return out;
}

/** A child process whose output is kept (the last lines) for error messages. */
class Proc {
  constructor(name, cmd, args, opts) {
    this.name = name;
    this.lines = [];
    this.exited = null;
    this.child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (buf) => {
      for (const line of buf.toString().split('\n')) {
        if (!line) continue;
        this.lines.push(line);
        if (this.lines.length > 200) this.lines.shift();
        if (process.env.E2E_LOG) process.stderr.write(`[${name}] ${line}\n`);
      }
    };
    this.child.stdout.on('data', keep);
    this.child.stderr.on('data', keep);
    this.exitPromise = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exited = { code, signal };
        resolve(this.exited);
      });
    });
  }

  tail(n = 30) {
    return this.lines.slice(-n).join('\n');
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 8_000) {
    if (this.exited) return this.exited;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    const res = await this.exitPromise;
    clearTimeout(t);
    return res;
  }
}

export class System {
  /** workerArgs: more options for the worker, e.g. ['--batch-max', '2'] for a small one (the benchmark). */
  /** modelsDir: a model repository the worker serves (WORKER_MODELS_DIR) instead of the MobileNetV2 file. */
  constructor({
    staticDir = path.join(frontendDir, 'dist'),
    hubEnv = {},
    workerArgs = [],
    tls = null,
    modelsDir = process.env.WORKER_MODELS_DIR || null,
  } = {}) {
    this.modelsDir = modelsDir;
    this.staticDir = staticDir;
    this.tls = tls && { ...tls, caPem: readFileSync(tls.ca, 'utf8') };
    this.hubEnv = tls ? { HUB_TLS_CERT: tls.cert, HUB_TLS_KEY: tls.key, ...hubEnv } : hubEnv;
    this.workerArgs = workerArgs;
    this.hub = null;
    this.worker = null;
    this.storeDir = mkdtempSync(path.join(os.tmpdir(), 'fe-e2e-nats-'));
  }

  get baseUrl() {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.httpPort}`;
  }

  async start() {
    if (!existsSync(path.join(this.staticDir, 'index.html'))) {
      throw new Error(`${this.staticDir}/index.html is missing: run "npm run build" first`);
    }
    const model = path.join(sharedTestdata, 'models', 'mobilenet_v2_1.0_224_quant.tflite');
    if (!existsSync(model)) throw new Error(`model not found: ${model} (set SHARED_TESTDATA)`);
    this.model = model;
    this.hubBin = hubBinary();
    this.httpPort = await freePort();
    this.natsPort = await freePort();
    await this.startHub();
    this.startWorker();
    await this.waitReady(120_000);
    return this;
  }

  async startHub() {
    const env = { ...process.env };
    delete env.NATS_URL; // embed NATS, whatever the caller's shell says
    Object.assign(env, {
      HUB_LISTEN: `127.0.0.1:${this.httpPort}`,
      NATS_EMBED_ADDR: `127.0.0.1:${this.natsPort}`,
      NATS_STORE_DIR: this.storeDir,
      HUB_STATIC_DIR: this.staticDir,
      HUB_SHUTDOWN_TIMEOUT: '3s',
      ...this.hubEnv,
    });
    this.hub = new Proc('hub', this.hubBin, [], { cwd: repoRoot, env });
    await this.waitHttp('/healthz', 30_000, () => this.hub);
  }

  async stopHub() {
    if (!this.hub) return;
    await this.hub.stop();
    this.hub = null;
  }

  /** Stops the hub and starts it again on the same ports. */
  async restartHub() {
    await this.stopHub();
    await this.startHub();
  }

  startWorker() {
    const python = process.env.WORKER_PYTHON || path.join(repoRoot, '.venv', 'bin', 'python');
    // A model repository is the worker's WORKER_MODELS_DIR (every model in it served); else the one file.
    const modelArgs = this.modelsDir ? [] : ['--model', `tflite:${this.model}`];
    const env = { ...process.env, PYTHONUNBUFFERED: '1', NATS_NKEY: path.join(this.storeDir, 'worker.nk') };
    for (const name of ['MODEL', 'WORKER_MODEL', 'MODELS_DIR', 'WORKER_MODELS_DIR']) delete env[name];
    if (this.modelsDir) env.WORKER_MODELS_DIR = this.modelsDir;
    this.worker = new Proc(
      'worker',
      python,
      ['-m', 'inference_server', '--nats-url', `nats://127.0.0.1:${this.natsPort}`, ...modelArgs, ...this.workerArgs],
      // The hub's embedded NATS accepts only its role keys: the worker's seed is in its store.
      { cwd: repoRoot, env },
    );
  }

  async stopWorker() {
    if (!this.worker) return;
    await this.worker.stop();
    this.worker = null;
  }

  async waitHttp(pathname, timeoutMs, procOf) {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      const p = procOf?.();
      if (p?.exited) throw new Error(`${p.name} exited (${JSON.stringify(p.exited)}):\n${p.tail()}`);
      try {
        const res = await httpGet(this.baseUrl + pathname, { ca: this.tls?.caPem });
        if (res.status >= 200 && res.status < 300) return;
        last = `${res.status} ${res.body}`;
      } catch (err) {
        last = String(err);
      }
      await sleep(250);
    }
    throw new Error(`${pathname} not OK after ${timeoutMs} ms (last: ${last})`);
  }

  /** Waits for /readyz?workers=1 (NATS up and a worker answering; plain /readyz does not wait on workers). */
  async waitReady(timeoutMs = 60_000) {
    try {
      await this.waitHttp('/readyz?workers=1', timeoutMs, () => (this.worker?.exited ? this.worker : this.hub));
    } catch (err) {
      throw new Error(`${err.message}\n--- hub ---\n${this.hub?.tail() ?? ''}\n--- worker ---\n${this.worker?.tail() ?? ''}`);
    }
  }

  /** Waits until GET /api/v1/models lists every one of `names` as ready (the hub has seen the worker's endpoints). */
  async waitModels(names, timeoutMs = 60_000) {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      if (this.worker?.exited) throw new Error(`worker exited (${JSON.stringify(this.worker.exited)}):\n${this.worker.tail()}`);
      try {
        const res = await httpGet(`${this.baseUrl}/api/v1/models`, { ca: this.tls?.caPem });
        last = `${res.status} ${res.body}`;
        if (res.status === 200) {
          const ready = new Set(JSON.parse(res.body).models.filter((m) => m.ready).map((m) => m.name));
          if (names.every((n) => ready.has(n))) return;
        }
      } catch (err) {
        last = String(err);
      }
      await sleep(250);
    }
    throw new Error(`models ${names.join(', ')} not ready after ${timeoutMs} ms (last: ${last})\n--- worker ---\n${this.worker?.tail() ?? ''}`);
  }

  async stop() {
    await Promise.all([this.stopWorker(), this.stopHub()]);
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}
