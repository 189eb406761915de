// The page over HTTPS with the local CA of `make run HTTPS=1` (issue 16):
// devcert makes the CA and the hub's certificate, the real hub serves them
// (HUB_TLS_CERT/HUB_TLS_KEY) with one real worker (TFLite on LiteRT), and
// Debian's Chromium trusts the CA through an NSS database, as a person who
// installs it does: no --ignore-certificate-errors, so the whole chain is
// checked. A phone viewport with touch, the fake camera playing a held-out
// photo for the back camera and for the front one.
//
// Run: npm run build && npm run test:e2e

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { attr, launchBrowser, switchCamera, waitForMoreResults, waitForText, withStatsProbe } from './browser.mjs';
import { makeFakeCamera } from './fakeCamera.mjs';
import { homeTrusting, makeLocalCA } from './localCA.mjs';
import { System, httpGet, sharedTestdata } from './system.mjs';

const photo = path.join(sharedTestdata, 'images', 'cat.bmp');
const label = 'Egyptian cat';
const phone = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

/** The subject's CN of the PEM certificate in `file`. */
const commonName = (file) => /^CN=(.*)$/m.exec(new X509Certificate(readFileSync(file)).subject)?.[1];

describe('the page over HTTPS with the local CA, on a phone', { timeout: 180_000 }, () => {
  let ca;
  let system;
  let camera;
  const homes = [];

  before(async () => {
    ca = makeLocalCA();
    system = await new System({ tls: ca, workerArgs: ['--runtime', 'litert'] }).start();
    camera = makeFakeCamera(photo);
  });

  after(async () => {
    await system?.stop();
    for (const dir of [ca?.dir, camera && path.dirname(camera), ...homes]) {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  test('plain HTTP to the TLS port: a page request is redirected to https, anything else told to use https', async () => {
    const plain = `http://127.0.0.1:${system.httpPort}`;
    const page = await fetch(`${plain}/?probe=1`, { redirect: 'manual' });
    assert.equal(page.status, 308);
    assert.equal(page.headers.get('location'), `${system.baseUrl}/?probe=1`);
    // The redirect's target answers over TLS, with the certificate the CA signed.
    const followed = await httpGet(page.headers.get('location'), { ca: system.tls.caPem });
    assert.equal(followed.status, 200);
    assert.match(followed.body, /<html/i);

    const post = await fetch(`${plain}/api/v1/analyze`, { method: 'POST', body: 'x' });
    assert.equal(post.status, 400);
    assert.match(await post.text(), /speaks HTTPS, not plain HTTP: use https:\/\/127\.0\.0\.1:\d+\/api\/v1\/analyze/);
  });

  test('a browser that does not trust the CA refuses the certificate', async () => {
    const home = homeTrusting(null);
    homes.push(home);
    const browser = await launchBrowser({ home });
    try {
      const page = await browser.newPage();
      await assert.rejects(page.goto(`${system.baseUrl}/`), /ERR_CERT_AUTHORITY_INVALID/);
    } finally {
      await browser.close();
    }
  });

  test('trusting the CA: a secure page, wss, labels for the photo from the back camera, then the front one and back', async () => {
    const home = homeTrusting(ca.ca);
    homes.push(home);
    const browser = await launchBrowser({ fakeVideo: camera, home });
    try {
      const context = await browser.newContext(phone);
      const page = await context.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      const sockets = [];
      page.on('websocket', (ws) => sockets.push(ws));

      const response = await page.goto(withStatsProbe(`${system.baseUrl}/`));
      assert.equal(response?.status(), 200);
      // The certificate devcert made, issued by its CA (the browser checked the chain).
      const security = await response?.securityDetails();
      assert.equal(security?.subjectName, commonName(ca.cert));
      assert.equal(security?.issuer, commonName(ca.ca));
      assert.equal(await page.evaluate(() => window.isSecureContext), true);
      await waitForText(page, 'top-label', label);

      assert.ok(sockets.length >= 1, 'the page opened a socket');
      const socket = sockets.at(-1);
      assert.equal(new URL(socket.url()).protocol, 'wss:');
      assert.equal(new URL(socket.url()).host, `127.0.0.1:${system.httpPort}`);
      assert.equal(socket.isClosed(), false);
      assert.equal(await attr(page, 'camera-video', 'data-facing'), 'environment');

      for (const facing of ['user', 'environment']) {
        assert.ok(await switchCamera(page, facing));
        // Fresh answers on the new stream, over the same secure socket.
        await waitForMoreResults(page, 3);
        await waitForText(page, 'top-label', label);
        assert.equal(sockets.at(-1), socket, 'no new socket for a camera switch');
      }
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  });
});
