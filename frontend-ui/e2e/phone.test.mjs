// The page on a phone and among many tabs (issue 16), against the real hub
// and one real worker, in Debian's Chromium with the fake cat webcam: a phone
// viewport with touch, the front/back switch, a hidden tab, the snapshot, the
// adaptive rate with several tabs on one worker, dark mode, and axe-core's
// accessibility check in light and dark, desktop and phone.
//
// Screenshots land in ../test-output/; with UPDATE_SCREENSHOTS=1 the README's
// (docs/screenshots/) are rewritten too.
//
// Run: npm run build && npm run test:e2e

import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { seriousViolations } from './axe.mjs';
import { gotoHydrated, attr, switchCamera, waitForMoreResults, waitForPage, waitForText, withStatsProbe } from './browser.mjs';
import { startLiveSystem } from './liveSystem.mjs';
import { frontendDir, sharedTestdata, testOutputDir } from './system.mjs';

const images = path.join(sharedTestdata, 'images');
const readmeShots = path.join(frontendDir, 'docs', 'screenshots');

const phone = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const desktop = { viewport: { width: 1280, height: 900 } };

/** Records every getUserMedia call's constraints in window.__gumCalls (before the page's own scripts run). */
async function recordGetUserMedia(context) {
  await context.addInitScript(() => {
    window.__gumCalls = [];
    const md = navigator.mediaDevices;
    const original = md.getUserMedia.bind(md);
    md.getUserMedia = (constraints) => {
      window.__gumCalls.push(JSON.parse(JSON.stringify(constraints)));
      return original(constraints);
    };
  });
}

/** Makes the page believe it was hidden (another app, another tab) or shown again. */
async function setHidden(page, hidden) {
  await page.evaluate((h) => {
    if (h) Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
    else delete document.visibilityState; // the prototype's getter again
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}

async function shot(page, name, { readme = false } = {}) {
  mkdirSync(testOutputDir, { recursive: true });
  const out = path.join(testOutputDir, name);
  // CSS pixels: a phone's shot is 390 px wide, not 780 (the README's are kept small).
  await page.screenshot({ path: out, scale: 'css' });
  if (readme && process.env.UPDATE_SCREENSHOTS === '1') {
    mkdirSync(readmeShots, { recursive: true });
    copyFileSync(out, path.join(readmeShots, name));
  }
}

describe('the page on a phone, among many tabs, light and dark', { timeout: 900_000 }, () => {
  let system;
  let browser;
  let phoneContext;
  let phonePage; // the phone tab, shared by the phone tests in order

  let fixture; // the hub, the worker and Chromium with the fake cat camera

  before(async () => {
    fixture = await startLiveSystem(path.join(images, 'cat.bmp'));
    ({ system, browser } = fixture);
  });

  after(async () => {
    await fixture?.stop();
  });

  test('phone with touch: labels, an inline muted video from the back camera, the recent labels strip', async () => {
    phoneContext = await browser.newContext(phone);
    await recordGetUserMedia(phoneContext);
    phonePage = await phoneContext.newPage();
    const errors = [];
    phonePage.on('pageerror', (e) => errors.push(e.message));
    await phonePage.goto(withStatsProbe(`${system.baseUrl}/`));
    await waitForText(phonePage, 'top-label', 'Egyptian cat');

    const video = await phonePage.$eval('[data-testid="camera-video"]', (v) => ({
      playsInline: v.playsInline,
      muted: v.muted,
      autoplay: v.autoplay,
      attr: v.hasAttribute('playsinline'),
    }));
    assert.deepEqual(video, { playsInline: true, muted: true, autoplay: true, attr: true });
    assert.equal(await attr(phonePage, 'camera-video', 'data-facing'), 'environment');
    const calls = await phonePage.evaluate(() => window.__gumCalls);
    assert.deepEqual(calls[0]?.video?.facingMode, { ideal: 'environment' });
    // The preview box has the video's real shape.
    assert.match((await attr(phonePage, 'camera-video', 'data-video-size')) ?? '', /^\d+x\d+$/);

    await waitForPage(phonePage, () => document.querySelector('[data-testid="recent-label"]')?.getAttribute('data-name') === 'Egyptian cat');
    assert.ok(await phonePage.$('[data-testid="recent-labels"] time[datetime]'), 'each recent label has its time');

    // The adaptive rate is the default: one frame in flight, a target within its bounds, shown as Sent/s.
    await waitForPage(phonePage, () => Number(document.querySelector('[data-testid="sent-fps"]')?.textContent) > 0, undefined, 15_000);
    const stats = await phonePage.evaluate(() => window.__hubStats);
    assert.equal(stats.rateMode, 'adaptive');
    assert.ok(stats.targetFps >= 0.5 && stats.targetFps <= 30, `target ${stats.targetFps}`);
    assert.ok(stats.sent - (stats.results + stats.errors + stats.dropped) <= 1, 'at most 1 frame outstanding');

    const overflow = await phonePage.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `page is ${overflow}px wider than the phone`);
    assert.deepEqual(errors, []);
  });

  test('one tap switches to the front camera (mirrored preview) and back, restarting the stream each time', async () => {
    assert.ok(phonePage, 'the phone test ran first');
    assert.ok(await attr(phonePage, 'camera-video', 'data-stream-id'));
    for (const facing of ['user', 'environment']) {
      await switchCamera(phonePage, facing);
      // The request asked for the other camera.
      const last = await phonePage.evaluate(() => window.__gumCalls.at(-1));
      assert.deepEqual(last?.video?.facingMode, { ideal: facing });
      // Mirrored exactly when the camera faces the person (as the track reports, else as asked).
      const { reported, mirrored, transform } = await phonePage.$eval('[data-testid="camera-video"]', (v) => ({
        reported: v.srcObject?.getVideoTracks()[0]?.getSettings().facingMode ?? null,
        mirrored: v.getAttribute('data-mirrored'),
        transform: getComputedStyle(v).transform,
      }));
      const expectMirror = reported ? reported === 'user' : facing === 'user';
      assert.equal(mirrored, String(expectMirror), `facing ${facing}, track reports ${reported}`);
      assert.equal(transform, expectMirror ? 'matrix(-1, 0, 0, 1, 0, 0)' : 'none');
      // Frames flow again on the new stream.
      await waitForMoreResults(phonePage, 5);
      await waitForText(phonePage, 'top-label', 'Egyptian cat');
    }
  });

  test('a hidden tab stops streaming and lets the screen sleep; shown again, it resumes', async () => {
    assert.ok(phonePage, 'the phone test ran first');
    const lock = await attr(phonePage, 'camera-box', 'data-wake-lock');
    assert.ok(['held', 'refused', 'unsupported'].includes(lock ?? ''), `wake lock while streaming: ${lock}`);
    await setHidden(phonePage, true);
    await waitForPage(phonePage, () => document.querySelector('[data-testid="camera-box"]')?.getAttribute('data-streaming') === 'false');
    assert.notEqual(await attr(phonePage, 'camera-box', 'data-wake-lock'), 'held');
    await phonePage.waitForTimeout(500); // answers to frames already in flight
    const sentHidden = await phonePage.evaluate(() => window.__hubStats.sent);
    await phonePage.waitForTimeout(1_500);
    assert.equal(await phonePage.evaluate(() => window.__hubStats.sent), sentHidden, 'no frames while hidden');
    await setHidden(phonePage, false);
    await waitForPage(phonePage, () => document.querySelector('[data-testid="camera-box"]')?.getAttribute('data-streaming') === 'true');
    await waitForMoreResults(phonePage, 5);
  });

  test('snapshot: a PNG of the frame with its labels is downloaded', async () => {
    assert.ok(phonePage, 'the phone test ran first');
    const [download] = await Promise.all([phonePage.waitForEvent('download'), phonePage.tap('[data-testid="snapshot-button"]')]);
    assert.match(download.suggestedFilename(), /^lens-hub-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.png$/);
    const png = readFileSync(await download.path());
    assert.equal(png.subarray(0, 8).toString('hex'), '89504e470d0a1a0a', 'a PNG');
    const width = png.readUInt32BE(16);
    const height = png.readUInt32BE(20);
    const [vw, vh] = ((await attr(phonePage, 'camera-video', 'data-video-size')) ?? '').split('x').map(Number);
    assert.equal(width, vw, 'the frame at its real width');
    assert.ok(height > vh, `a band of labels under the ${vw}x${vh} frame (PNG ${width}x${height})`);
  });

  test('smoothing can be turned off; labels keep coming', async () => {
    assert.ok(phonePage, 'the phone test ran first');
    const toggle = phonePage.locator('[data-testid="smoothing-switch"] input');
    assert.equal(await toggle.isChecked(), true, 'smoothing is on by default');
    await toggle.tap();
    assert.equal(await toggle.isChecked(), false);
    await waitForMoreResults(phonePage, 3);
    await waitForText(phonePage, 'top-label', 'Egyptian cat');
    await toggle.tap();
    assert.equal(await toggle.isChecked(), true);
    await phoneContext.close();
    phonePage = null;
  });

  test('upload: the headline is the first name, the synonyms are beneath', async () => {
    const page = await browser.newPage(desktop);
    try {
      await gotoHydrated(page, `${system.baseUrl}/`);
      const [response] = await Promise.all([
        page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/analyze', { timeout: 60_000 }),
        page.setInputFiles('[data-testid="upload-input"]', path.join(images, 'dragonfly.bmp')),
      ]);
      const raw = (await response.json())[0]?.label;
      assert.equal(typeof raw, 'string');
      const [name, ...synonyms] = raw.split(', ');
      await waitForText(page, 'upload-top-label', name, 30_000);
      if (synonyms.length > 0) {
        const beneath = (await page.textContent('[data-testid="upload-top-label-synonyms"]')) ?? '';
        for (const s of synonyms) assert.ok(beneath.includes(s), `"${s}" beneath the headline: ${beneath}`);
      } else {
        assert.equal(await page.$('[data-testid="upload-top-label-synonyms"]'), null);
      }
    } finally {
      await page.close();
    }
  });

  test('several adaptive tabs on one worker: every tab gets results', async () => {
    const tabs = await Promise.all(Array.from({ length: 4 }, () => browser.newPage({ viewport: { width: 800, height: 600 } })));
    try {
      await Promise.all(tabs.map((t) => t.goto(withStatsProbe(`${system.baseUrl}/`))));
      await Promise.all(tabs.map((t) => waitForPage(t, () => (window.__hubStats?.results ?? 0) >= 10, undefined, 120_000)));
      for (const [i, t] of tabs.entries()) {
        const s = await t.evaluate(() => window.__hubStats);
        assert.equal(s.rateMode, 'adaptive', `tab ${i}`);
        assert.ok(s.sent - (s.results + s.errors + s.dropped) <= 1, `tab ${i}: at most 1 frame outstanding`);
        assert.equal(s.topLabel, 'Egyptian cat', `tab ${i}`);
      }
    } finally {
      await Promise.all(tabs.map((t) => t.close()));
    }
  });

  test('?rate=eager keeps the old pacing, two frames in flight', async () => {
    const page = await browser.newPage(desktop);
    try {
      await page.goto(withStatsProbe(`${system.baseUrl}/?rate=eager`));
      await waitForPage(page, () => (window.__hubStats?.results ?? 0) >= 5, undefined, 60_000);
      const s = await page.evaluate(() => window.__hubStats);
      assert.equal(s.rateMode, 'eager');
      assert.equal(s.targetFps, 30);
      assert.match((await page.textContent('[data-testid="sent-fps"]')) ?? '', /\d/);
      assert.match((await page.textContent('body')) ?? '', /Sent\/s\s*\(eager\)/);
    } finally {
      await page.close();
    }
  });

  test('dark mode follows the system; the toggle overrides it and is remembered', async () => {
    const context = await browser.newContext({ ...desktop, colorScheme: 'dark' });
    try {
      const page = await context.newPage();
      await page.goto(`${system.baseUrl}/`);
      const scheme = () => page.evaluate(() => document.documentElement.getAttribute('data-mui-color-scheme'));
      const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      assert.equal(await scheme(), 'dark');
      await waitForPage(page, () => getComputedStyle(document.body).backgroundColor === 'rgb(15, 21, 34)');
      await page.click('[data-testid="color-scheme-toggle"]');
      await waitForPage(page, () => document.documentElement.getAttribute('data-mui-color-scheme') === 'light');
      assert.equal(await background(), 'rgb(244, 246, 251)');
      assert.equal(await page.evaluate(() => localStorage.getItem('lens-hub-color-mode')), 'light');
      await page.reload();
      assert.equal(await scheme(), 'light', 'the choice outlives a reload (set before the island runs)');
      await page.click('[data-testid="color-scheme-toggle"]');
      await waitForPage(page, () => document.documentElement.getAttribute('data-mui-color-scheme') === 'dark');
    } finally {
      await context.close();
    }
  });

  for (const colorScheme of ['light', 'dark']) {
    for (const [device, options] of [
      ['desktop', desktop],
      ['phone', phone],
    ]) {
      test(`axe-core: no serious or critical violation (${colorScheme}, ${device})`, async () => {
        const context = await browser.newContext({ ...options, colorScheme });
        try {
          const page = await context.newPage();
          await page.goto(withStatsProbe(`${system.baseUrl}/`));
          await waitForText(page, 'top-label', 'Egyptian cat');
          await waitForPage(page, () => document.querySelector('[data-testid="recent-label"]') !== null);
          assert.equal(
            await page.evaluate(() => document.documentElement.getAttribute('data-mui-color-scheme')),
            colorScheme,
          );
          const violations = await seriousViolations(page);
          assert.deepEqual(violations, [], JSON.stringify(violations, null, 2));
          if (device === 'desktop') await shot(page, `live-${colorScheme}.png`, { readme: true });
          else await shot(page, `phone-${colorScheme}.png`, { readme: colorScheme === 'dark' });
        } finally {
          await context.close();
        }
      });
    }
  }
});
