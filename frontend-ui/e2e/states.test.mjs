// The states a person must understand, in Chromium, without a hub: the built
// page is served by a tiny static server that has no /ws (hub unreachable) and
// whose analyze API answers 503 (no worker). Also camera denied / no camera,
// and keyboard use of the upload button.
//
// Run: npm run build && npm run test:e2e

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gotoHydrated, launchBrowser, waitForPage } from './browser.mjs';
import { makeFakeCamera } from './fakeCamera.mjs';
import { frontendDir, sharedTestdata, testOutputDir } from './system.mjs';

const dist = path.join(frontendDir, 'dist');
const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.woff2': 'font/woff2', '.woff': 'font/woff' };

function serveDist() {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/api/v1/analyze') {
      req.resume();
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'no inference worker is available right now' }));
      return;
    }
    const rel = url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname).replace(/^\/+/, '');
    const file = path.join(dist, rel);
    if (!file.startsWith(dist) || !existsSync(file)) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  // A WebSocket upgrade to this server fails: the page sees an unreachable hub.
  server.on('upgrade', (_req, socket) => socket.destroy());
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function shot(page, name) {
  mkdirSync(testOutputDir, { recursive: true });
  await page.screenshot({ path: path.join(testOutputDir, name) });
}

describe('page states without a hub', { timeout: 300_000 }, () => {
  let server;
  let base;
  const browsers = [];
  let camera;

  before(async () => {
    assert.ok(existsSync(path.join(dist, 'index.html')), 'run "npm run build" first');
    server = await serveDist();
    base = `http://127.0.0.1:${server.address().port}`;
  });

  after(async () => {
    await Promise.all(browsers.map((b) => b.close().catch(() => undefined)));
    await new Promise((r) => server?.close(r));
    if (camera) rmSync(path.dirname(camera), { recursive: true, force: true });
  });

  test('hub unreachable: an error alert and a reconnecting status', async () => {
    camera = makeFakeCamera(path.join(sharedTestdata, 'images', 'cat.bmp'));
    const browser = await launchBrowser({ fakeVideo: camera });
    browsers.push(browser);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${base}/`);
    await page.waitForSelector('[data-testid="alert-hub-unreachable"]', { timeout: 15_000 });
    const status = page.locator('[data-testid="connection-status"]');
    assert.equal(await status.getAttribute('data-state'), 'reconnecting');
    assert.match((await status.textContent()) ?? '', /reconnecting/);
    assert.match((await page.textContent('[data-testid="alert-hub-unreachable"]')) ?? '', /Can’t reach the hub/);
    await shot(page, 'state-hub-unreachable.png');
  });

  test('upload with no worker: the API’s 503 is explained', async () => {
    const browser = browsers[0];
    const page = await browser.newPage();
    await gotoHydrated(page, `${base}/`);
    await page.setInputFiles('[data-testid="upload-input"]', path.join(sharedTestdata, 'images', 'bird.bmp'));
    await page.waitForSelector('[data-testid="upload-error"]', { timeout: 15_000 });
    assert.match((await page.textContent('[data-testid="upload-error"]')) ?? '', /No classifier worker/);
    await page.close();
  });

  test('keyboard: Tab reaches "Choose image" and Enter opens the file picker', async () => {
    const page = await browsers[0].newPage();
    await page.goto(`${base}/`);
    await waitForPage(page, () => document.querySelector('[data-testid="connection-status"]')?.getAttribute('data-state') !== 'idle');
    let reached = false;
    for (let i = 0; i < 30 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(() => document.activeElement?.getAttribute('data-testid') === 'upload-button');
    }
    assert.ok(reached, 'the upload button is reachable with Tab');
    // Enter on the button must open the file picker, i.e. click the file input.
    await page.evaluate(() => {
      document.querySelector('[data-testid="upload-input"]')?.addEventListener('click', () => {
        window.__uploadInputClicked = true;
      });
    });
    await page.keyboard.press('Enter');
    await waitForPage(page, () => window.__uploadInputClicked === true, undefined, 5_000);
    await page.close();
  });

  test('no camera: an alert says to connect one', async () => {
    const browser = await launchBrowser(); // no fake device: this machine has no camera
    browsers.push(browser);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${base}/`);
    await page.waitForSelector('[data-testid="alert-camera-no-camera"]', { timeout: 15_000 });
    assert.match((await page.textContent('[data-testid="alert-camera-no-camera"]')) ?? '', /No camera found/);
    await shot(page, 'state-no-camera.png');
  });

  test('camera permission denied: an alert says how to allow it', async () => {
    // A camera exists, but the permission request is refused.
    const browser = await launchBrowser({ fakeDevice: true, acceptPermission: false });
    browsers.push(browser);
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, permissions: [] });
    const page = await context.newPage();
    await page.goto(`${base}/`);
    await page.waitForSelector('[data-testid="alert-camera-denied"]', { timeout: 15_000 });
    assert.match((await page.textContent('[data-testid="alert-camera-denied"]')) ?? '', /Allow camera access/);
    await shot(page, 'state-camera-denied.png');
  });
});
