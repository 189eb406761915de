// End-to-end tests of the page against the real system: the Go hub binary
// (embedded NATS), one real Python worker with the real TFLite MobileNetV2,
// and Debian's Chromium with a fake webcam showing the test cat photo.
//
// Run: npm run build && npm run test:e2e

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gotoHydrated, waitForPage, withStatsProbe } from './browser.mjs';
import { startLiveSystem } from './liveSystem.mjs';
import { sharedTestdata, testOutputDir } from './system.mjs';

const images = path.join(sharedTestdata, 'images');

/** Text of a test hook, or '' while it is not on the page. */
async function text(page, testId) {
  const el = await page.$(`[data-testid="${testId}"]`);
  return el ? ((await el.textContent()) ?? '').trim() : '';
}

async function waitForText(page, testId, expected, timeoutMs = 60_000) {
  await waitForPage(
    page,
    ([id, want]) => document.querySelector(`[data-testid="${id}"]`)?.textContent?.trim() === want,
    [testId, expected],
    timeoutMs,
  );
}

async function waitForConnection(page, states, timeoutMs = 30_000) {
  await waitForPage(
    page,
    (want) => want.includes(document.querySelector('[data-testid="connection-status"]')?.getAttribute('data-state') ?? ''),
    states,
    timeoutMs,
  );
}

describe('page against the real hub and worker', { timeout: 600_000 }, () => {
  let system;
  let browser;
  let live; // the streaming page, shared by the tests that follow

  let fixture; // the hub, the worker and Chromium with the fake cat camera

  before(async () => {
    fixture = await startLiveSystem(path.join(images, 'cat.bmp'));
    ({ system, browser } = fixture);
  });

  after(async () => {
    await fixture?.stop();
  });

  test('live camera: the fake cat camera is labelled "Egyptian cat" and frames/s is above 0', async () => {
    live = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors = [];
    live.on('pageerror', (e) => errors.push(e.message));
    await live.goto(withStatsProbe(`${system.baseUrl}/`));
    await waitForConnection(live, ['connected']);
    assert.match(await text(live, 'connection-status'), /connected/);
    await waitForText(live, 'top-label', 'Egyptian cat');
    await waitForPage(live, () => Number(document.querySelector('[data-testid="fps"]')?.textContent) > 0, undefined, 15_000);
    const fps = Number(await text(live, 'fps'));
    assert.ok(fps > 0, `fps ${fps}`);
    // Flow control: never more than the in-flight limit outstanding, and every frame answered.
    const stats = await live.evaluate(() => window.__hubStats);
    assert.equal(stats.mode, 'live');
    assert.ok(stats.sent > 0 && stats.results > 0, JSON.stringify({ ...stats, samples: stats.samples.length }));
    assert.ok(stats.sent - (stats.results + stats.errors + stats.dropped) <= 2, 'at most 2 frames outstanding');
    assert.deepEqual(errors, []);
  });

  test('pause stops sending frames, resume starts again (keyboard)', async () => {
    assert.ok(live, 'the live test ran first');
    await live.focus('[data-testid="pause-button"]');
    await live.keyboard.press('Enter');
    assert.equal(await live.getAttribute('[data-testid="pause-button"]', 'aria-pressed'), 'true');
    await live.waitForTimeout(500); // answers to frames already in flight
    const sentPaused = await live.evaluate(() => window.__hubStats.sent);
    await live.waitForTimeout(1_000);
    assert.equal(await live.evaluate(() => window.__hubStats.sent), sentPaused, 'no frames while paused');
    await live.keyboard.press('Space');
    assert.equal(await live.getAttribute('[data-testid="pause-button"]', 'aria-pressed'), 'false');
    await waitForPage(live, (n) => window.__hubStats.results > n + 5, sentPaused, 15_000);
  });

  test('watch link: a second page at the watch URL shows the streaming tab’s labels and sends nothing', async () => {
    assert.ok(live, 'the live test ran first');
    const href = await live.getAttribute('[data-testid="watch-link"]', 'href');
    assert.match(href ?? '', /^\/\?watch=.+/);
    const watcher = await browser.newPage({ viewport: { width: 1024, height: 800 } });
    try {
      await watcher.goto(withStatsProbe(new URL(href, system.baseUrl).toString()));
      await waitForConnection(watcher, ['connected']);
      await waitForText(watcher, 'top-label', 'Egyptian cat', 30_000);
      // Results keep arriving (they are the other tab's).
      const first = await watcher.evaluate(() => window.__hubStats.results);
      await waitForPage(watcher, (n) => window.__hubStats.results > n + 5, first, 15_000);
      const stats = await watcher.evaluate(() => window.__hubStats);
      assert.equal(stats.mode, 'watch');
      assert.equal(stats.sent, 0, 'a watching page sends no frames');
      assert.equal(await watcher.$('[data-testid="camera-video"]'), null, 'no camera in watch mode');
      mkdirSync(testOutputDir, { recursive: true });
      await watcher.screenshot({ path: path.join(testOutputDir, 'watch-page.png') });
    } finally {
      await watcher.close();
    }
  });

  test('watch link with an unknown session shows an error, not labels', async () => {
    const watcher = await browser.newPage();
    try {
      await watcher.goto(`${system.baseUrl}/?watch=no-such-session`);
      await watcher.waitForSelector('[data-testid="alert-unknown_session"]', { timeout: 15_000 });
      const alert = await text(watcher, 'alert-unknown_session');
      assert.match(alert, /no live session/i);
      // The hub closed with 4004: the page stops instead of retrying forever.
      await waitForConnection(watcher, ['closed'], 5_000);
      assert.equal(await watcher.$('[data-testid="alert-hub-unreachable"]'), null);
      assert.equal(await text(watcher, 'top-label'), '');
    } finally {
      await watcher.close();
    }
  });

  test('upload: grace_hopper.bmp is a "military uniform"', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    try {
      await gotoHydrated(page, `${system.baseUrl}/`);
      await page.setInputFiles('[data-testid="upload-input"]', path.join(images, 'grace_hopper.bmp'));
      await waitForText(page, 'upload-top-label', 'military uniform', 30_000);
    } finally {
      await page.close();
    }
  });

  test('screenshots of the live page (desktop and phone) in test-output/', async () => {
    assert.ok(live, 'the live test ran first');
    mkdirSync(testOutputDir, { recursive: true });
    await waitForText(live, 'top-label', 'Egyptian cat');
    // No focus ring left over from the keyboard test.
    await live.evaluate(() => (document.activeElement instanceof HTMLElement ? document.activeElement.blur() : undefined));
    await live.waitForTimeout(1_000);
    const desktop = path.join(testOutputDir, 'live-page.png');
    await live.screenshot({ path: desktop, fullPage: true });

    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    try {
      await phone.goto(`${system.baseUrl}/`);
      await waitForText(phone, 'top-label', 'Egyptian cat');
      // A page opened without ?probe=1 (as a person opens it) has no stats probe.
      assert.equal(await phone.evaluate(() => '__hubStats' in window), false);
      // No horizontal scrolling at phone width.
      const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `page is ${overflow}px wider than the phone`);
      await phone.screenshot({ path: path.join(testOutputDir, 'live-page-phone.png'), fullPage: true });
    } finally {
      await phone.close();
    }
  });

  test('hub restart: the page shows the outage, reconnects by itself and labels flow again', async () => {
    assert.ok(live, 'the live test ran first');
    await waitForText(live, 'top-label', 'Egyptian cat');
    // A watcher opened before the outage must follow the same session after it.
    const sessionBefore = await live.evaluate(() => window.__hubStats.session);
    const href = await live.getAttribute('[data-testid="watch-link"]', 'href');
    const watcher = await browser.newPage({ viewport: { width: 1024, height: 800 } });
    await watcher.goto(withStatsProbe(new URL(href, system.baseUrl).toString()));
    await waitForText(watcher, 'top-label', 'Egyptian cat', 30_000);
    await system.stopHub();
    await waitForConnection(live, ['reconnecting', 'closed'], 15_000);
    assert.match(await text(live, 'connection-status'), /disconnected|reconnecting/);
    await live.waitForSelector('[data-testid="alert-hub-disconnected"]', { timeout: 5_000 });
    mkdirSync(testOutputDir, { recursive: true });
    await live.screenshot({ path: path.join(testOutputDir, 'live-page-reconnecting.png') });

    await system.startHub();
    await system.waitReady(60_000);
    await waitForConnection(live, ['connected'], 30_000);
    const resultsAtReconnect = await live.evaluate(() => window.__hubStats.results);
    // Labels flow again on the new connection, without any click.
    await waitForPage(live, (n) => window.__hubStats.results > n + 5, resultsAtReconnect, 60_000);
    await waitForText(live, 'top-label', 'Egyptian cat');
    assert.equal(await live.$('[data-testid="alert-hub-disconnected"]'), null, 'the outage alert is gone');

    // The tab resumed its session id, so the watcher (reconnecting too) follows it again.
    assert.equal(await live.evaluate(() => window.__hubStats.session), sessionBefore, 'the session id survived the restart');
    try {
      await waitForConnection(watcher, ['connected'], 60_000);
      const watched = await watcher.evaluate(() => window.__hubStats.results);
      await waitForPage(watcher, (n) => window.__hubStats.results > n + 5, watched, 60_000);
    } finally {
      await watcher.close();
    }
  });

  test('no worker: the page says so, and labels resume when a worker is back', async () => {
    assert.ok(live, 'the live test ran first');
    await waitForText(live, 'top-label', 'Egyptian cat');
    await system.stopWorker();
    await live.waitForSelector('[data-testid="alert-unavailable"], [data-testid="alert-timeout"]', { timeout: 30_000 });
    mkdirSync(testOutputDir, { recursive: true });
    await live.screenshot({ path: path.join(testOutputDir, 'live-page-no-worker.png') });
    const before = await live.evaluate(() => window.__hubStats.results);
    system.startWorker();
    await system.waitReady(120_000);
    await waitForPage(live, (n) => window.__hubStats.results > n + 5, before, 60_000);
    await waitForText(live, 'top-label', 'Egyptian cat');
    assert.equal(await live.$('[data-testid="alert-unavailable"]'), null, 'the alert is gone once results flow');
  });
});
