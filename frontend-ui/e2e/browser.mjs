// Debian's Chromium driven by playwright-core (no downloaded browser), with a
// fake webcam playing a Y4M file.

import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';

export const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

const baseFlags = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
  // Keep streaming in tabs that are not in front (the watch test has two pages).
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
];

/**
 * Launches Chromium. Playwright gives it a fresh temporary profile
 * (--user-data-dir) and removes it on close. `home`: the HOME it runs with,
 * whose ~/.pki/nssdb holds the certificates it trusts beyond the system's
 * (localCA.mjs's homeTrusting).
 */
export async function launchBrowser({ fakeVideo, fakeDevice = Boolean(fakeVideo), acceptPermission = true, home } = {}) {
  if (!existsSync(chromiumPath)) {
    throw new Error(`Chromium not found at ${chromiumPath} (apt-get install chromium, or set CHROMIUM_PATH)`);
  }
  const args = [...baseFlags];
  if (fakeDevice) args.push('--use-fake-device-for-media-stream');
  if (fakeDevice && acceptPermission) args.push('--use-fake-ui-for-media-stream');
  if (fakeVideo) args.push(`--use-file-for-fake-video-capture=${fakeVideo}`);
  const env = home ? { ...process.env, HOME: home } : undefined;
  return chromium.launch({ executablePath: chromiumPath, headless: true, args, env, timeout: 60_000 });
}

/**
 * `url` with the page's switch for its stats probe (window.__hubStats), which
 * is off unless the URL asks for it: ?probe=1 (src/lib/hubStatsProbe.ts).
 */
export function withStatsProbe(url) {
  const u = new URL(url);
  u.searchParams.set('probe', '1');
  return u.toString();
}

/**
 * Opens `url` and waits until the island has hydrated: the server-rendered
 * HTML shows the upload input before React listens to it, and a file set on
 * it then would be lost. The upload button is enabled only once hydrated
 * (UploadCard), so that is the sign.
 */
export async function gotoHydrated(page, url, timeoutMs = 60_000) {
  await page.goto(url);
  await page.waitForSelector('[data-testid="upload-button"]:not([disabled])', { timeout: timeoutMs });
}

/** Polls fn in the page until it returns a truthy value. */
export async function waitForPage(page, fn, arg, timeoutMs = 60_000) {
  const handle = await page.waitForFunction(fn, arg, { timeout: timeoutMs, polling: 100 });
  return handle.jsonValue();
}

/** An attribute of the page's element with data-testid `testId`. */
export const attr = (page, testId, name) => page.getAttribute(`[data-testid="${testId}"]`, name);

/** Waits until the element with data-testid `testId` reads `expected`. */
export async function waitForText(page, testId, expected, timeoutMs = 60_000) {
  await waitForPage(
    page,
    ([id, want]) => document.querySelector(`[data-testid="${id}"]`)?.textContent?.trim() === want,
    [testId, expected],
    timeoutMs,
  );
}

/** Waits until the page has `n` more results than now (needs the stats probe: withStatsProbe). */
export async function waitForMoreResults(page, n, timeoutMs = 60_000) {
  const now = await page.evaluate(() => window.__hubStats.results);
  await waitForPage(page, ([from, more]) => window.__hubStats.results >= from + more, [now, n], timeoutMs);
}

/**
 * Taps the front/back switch and waits until the camera faces `facing` on a new
 * stream (its data-stream-id differs from the one before the tap).
 */
export async function switchCamera(page, facing, timeoutMs = 30_000) {
  const from = await attr(page, 'camera-video', 'data-stream-id');
  await page.tap('[data-testid="facing-switch"]');
  await waitForPage(
    page,
    ([want, old]) => {
      const v = document.querySelector('[data-testid="camera-video"]');
      const id = v?.getAttribute('data-stream-id');
      return v?.getAttribute('data-facing') === want && id && id !== old;
    },
    [facing, from],
    timeoutMs,
  );
  return from;
}
