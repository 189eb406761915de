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

/** Polls fn in the page until it returns a truthy value. */
export async function waitForPage(page, fn, arg, timeoutMs = 60_000) {
  const handle = await page.waitForFunction(fn, arg, { timeout: timeoutMs, polling: 100 });
  return handle.jsonValue();
}
