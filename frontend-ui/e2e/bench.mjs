// Benchmark of the page in the real system: headless Chromium with the fake
// cat webcam, the real hub, one local TFLite worker. Measures over a steady
// window (default 20 s, BENCH_SECONDS) the sustained results per second and
// the time from sending a frame to its labels being on the page (median, p95),
// read from window.__hubStats (the page's stats probe, which it opens with
// ?probe=1). Prints a markdown table; also writes test-output/bench-frontend.json.
//
// Run: npm run build && npm run bench

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { launchBrowser, waitForPage, withStatsProbe } from './browser.mjs';
import { makeFakeCamera } from './fakeCamera.mjs';
import { System, sharedTestdata, testOutputDir } from './system.mjs';

const seconds = Number(process.env.BENCH_SECONDS || 20);
const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS || 3);

function pct(values, p) {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

const fmt = (v, digits = 1) => (Number.isFinite(v) ? v.toFixed(digits) : '—');

const system = new System();
const camera = makeFakeCamera(path.join(sharedTestdata, 'images', 'cat.bmp'));
let browser;
try {
  await system.start();
  browser = await launchBrowser({ fakeVideo: camera });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(withStatsProbe(`${system.baseUrl}/`));
  await waitForPage(page, () => (window.__hubStats?.results ?? 0) > 0, undefined, 60_000);
  await page.waitForTimeout(warmupSeconds * 1000);

  const start = await page.evaluate(() => ({
    t: performance.now(),
    sent: window.__hubStats.sent,
    results: window.__hubStats.results,
    errors: window.__hubStats.errors,
    dropped: window.__hubStats.dropped,
  }));
  await page.waitForTimeout(seconds * 1000);
  const end = await page.evaluate(() => ({
    t: performance.now(),
    sent: window.__hubStats.sent,
    results: window.__hubStats.results,
    errors: window.__hubStats.errors,
    dropped: window.__hubStats.dropped,
    topLabel: window.__hubStats.topLabel,
    samples: window.__hubStats.samples,
  }));

  const window_ = end.samples.filter((s) => s.sentAt >= start.t && s.resultAt <= end.t);
  const durationS = (end.t - start.t) / 1000;
  const toShown = window_.filter((s) => s.shownAt !== undefined).map((s) => s.shownAt - s.sentAt);
  const toResult = window_.map((s) => s.resultAt - s.sentAt);
  const captureToShown = window_
    .filter((s) => s.shownAt !== undefined && s.capturedAt !== undefined)
    .map((s) => s.shownAt - s.capturedAt);

  const results = {
    seconds: Number(durationS.toFixed(2)),
    framesSent: end.sent - start.sent,
    results: end.results - start.results,
    errors: end.errors - start.errors,
    dropped: end.dropped - start.dropped,
    fps: (end.results - start.results) / durationS,
    sendToShownMs: { median: pct(toShown, 50), p95: pct(toShown, 95) },
    sendToResultMs: { median: pct(toResult, 50), p95: pct(toResult, 95) },
    captureToShownMs: { median: pct(captureToShown, 50), p95: pct(captureToShown, 95) },
    samples: window_.length,
    topLabel: end.topLabel,
    cpus: (await import('node:os')).cpus().length,
  };

  console.log(`\n### Page benchmark (headless Chromium, fake cat webcam, 1 TFLite worker, ${fmt(durationS, 0)} s)\n`);
  console.log('| measure | value |');
  console.log('|---|---|');
  console.log(`| sustained results/s | ${fmt(results.fps)} |`);
  console.log(`| frames sent / results / errors / dropped | ${results.framesSent} / ${results.results} / ${results.errors} / ${results.dropped} |`);
  console.log(`| send → labels shown, median | ${fmt(results.sendToShownMs.median)} ms |`);
  console.log(`| send → labels shown, p95 | ${fmt(results.sendToShownMs.p95)} ms |`);
  console.log(`| send → result received, median / p95 | ${fmt(results.sendToResultMs.median)} / ${fmt(results.sendToResultMs.p95)} ms |`);
  console.log(`| camera grab → labels shown, median / p95 | ${fmt(results.captureToShownMs.median)} / ${fmt(results.captureToShownMs.p95)} ms |`);
  console.log(`| top label | ${results.topLabel} |`);
  console.log(`\nFrames are 224×224 JPEG (quality 0.8), at most 2 in flight, at most 30 sent per second; ${results.cpus} CPU cores shared by Chromium, the hub and the worker.`);

  mkdirSync(testOutputDir, { recursive: true });
  writeFileSync(path.join(testOutputDir, 'bench-frontend.json'), `${JSON.stringify(results, null, 2)}\n`);
} finally {
  await browser?.close().catch(() => undefined);
  await system.stop();
  rmSync(path.dirname(camera), { recursive: true, force: true });
}
