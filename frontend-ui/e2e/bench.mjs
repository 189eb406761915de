// Benchmark of the page in the real system: headless Chromium with the fake
// cat webcam, the real hub, one local TFLite worker. Measures over a steady
// window (default 20 s, BENCH_SECONDS) the sustained results per second and
// the time from sending a frame to its labels being on the page (median, p95),
// read from window.__hubStats (the page's stats probe, which it opens with
// ?probe=1). Prints a markdown table; also writes test-output/bench-frontend.json.
//
// Then the fair-rate comparison (issue 16): BENCH_TABS tabs (default 8) on
// one small worker (--batch-max BENCH_WORKER_BATCH, default 2: it holds 4
// frames), first with today's page (?rate=eager), then with the adaptive page
// (the default), in the same run; and one adaptive tab alone as the latency
// baseline. Per tab: results, median send→result latency, frames shed
// (`dropped`). Written to test-output/bench-frontend-tabs.json.
// BENCH_PARTS=page or BENCH_PARTS=tabs runs one part only.
//
// Run: npm run build && npm run bench

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { launchBrowser, waitForPage, withStatsProbe } from './browser.mjs';
import { makeFakeCamera } from './fakeCamera.mjs';
import { System, sharedTestdata, testOutputDir } from './system.mjs';

const seconds = Number(process.env.BENCH_SECONDS || 20);
const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS || 3);
// The single-tab part's page: adaptive (the default) or eager (the page before issue 16).
const pageRate = process.env.BENCH_RATE === 'eager' ? 'eager' : 'adaptive';
const parts = new Set((process.env.BENCH_PARTS || 'page,tabs').split(','));
const tabCount = Number(process.env.BENCH_TABS || 8);
const smallWorkerBatch = String(process.env.BENCH_WORKER_BATCH || 2);

function pct(values, p) {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

const fmt = (v, digits = 1) => (Number.isFinite(v) ? v.toFixed(digits) : '—');

/** The probe's counters of a tab (and its samples when `withSamples`). */
function readProbe(page, withSamples = false) {
  return page.evaluate((samples) => {
    const h = window.__hubStats;
    return {
      t: performance.now(),
      sent: h.sent,
      results: h.results,
      errors: h.errors,
      dropped: h.dropped,
      targetFps: h.targetFps,
      ...(samples ? { samples: h.samples } : {}),
    };
  }, withSamples);
}

/** Opens `count` tabs of `url`, waits for each tab's first result and the warm-up, and measures them together. */
async function measureTabs(browser, url, count) {
  const pages = [];
  try {
    for (let i = 0; i < count; i++) pages.push(await browser.newPage({ viewport: { width: 800, height: 600 } }));
    await Promise.all(pages.map((p) => p.goto(url)));
    await Promise.all(pages.map((p) => waitForPage(p, () => (window.__hubStats?.results ?? 0) > 0, undefined, 120_000)));
    await pages[0].waitForTimeout(warmupSeconds * 1000);
    const start = await Promise.all(pages.map((p) => readProbe(p)));
    await pages[0].waitForTimeout(seconds * 1000);
    const end = await Promise.all(pages.map((p) => readProbe(p, true)));
    return end.map((e, i) => {
      const s = start[i];
      const durationS = (e.t - s.t) / 1000;
      const latencies = e.samples.filter((x) => x.sentAt >= s.t && x.resultAt <= e.t).map((x) => x.resultAt - x.sentAt);
      return {
        tab: i + 1,
        seconds: Number(durationS.toFixed(2)),
        sent: e.sent - s.sent,
        results: e.results - s.results,
        resultsPerS: (e.results - s.results) / durationS,
        errors: e.errors - s.errors,
        dropped: e.dropped - s.dropped,
        latencyMedianMs: pct(latencies, 50),
        latencyP95Ms: pct(latencies, 95),
        targetFps: e.targetFps,
      };
    });
  } finally {
    await Promise.all(pages.map((p) => p.close().catch(() => undefined)));
  }
}

const sum = (rows, key) => rows.reduce((a, r) => a + r[key], 0);

/** Today's page (?rate=eager) against the adaptive page, `tabCount` tabs each, on one small worker. */
async function compareRates(browser) {
  // A small worker, so that the tabs compete: it holds 2 × batch-max frames at once.
  await system.stopWorker();
  system.workerArgs = ['--batch-max', smallWorkerBatch];
  system.startWorker();
  await system.waitReady(120_000);

  const base = `${system.baseUrl}/`;
  const alone = (await measureTabs(browser, withStatsProbe(base), 1))[0];
  const eager = await measureTabs(browser, withStatsProbe(`${base}?rate=eager`), tabCount);
  const adaptive = await measureTabs(browser, withStatsProbe(base), tabCount);

  console.log(
    `\n### ${tabCount} tabs on one small worker (--batch-max ${smallWorkerBatch}), today's page (?rate=eager) vs the adaptive page, ${seconds} s each\n`,
  );
  console.log('| page | tab | results | results/s | median latency | p95 latency | shed (dropped) | errors | sent |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  const row = (name, r) =>
    console.log(
      `| ${name} | ${r.tab} | ${r.results} | ${fmt(r.resultsPerS)} | ${fmt(r.latencyMedianMs, 0)} ms | ${fmt(r.latencyP95Ms, 0)} ms | ${r.dropped} | ${r.errors} | ${r.sent} |`,
    );
  row('adaptive, alone', alone);
  for (const r of eager) row('eager', r);
  for (const r of adaptive) row('adaptive', r);

  const worstMedian = (rows) => Math.max(...rows.map((r) => r.latencyMedianMs));
  const summary = {
    tabs: tabCount,
    workerBatchMax: Number(smallWorkerBatch),
    aloneMedianMs: alone.latencyMedianMs,
    eager: { results: sum(eager, 'results'), dropped: sum(eager, 'dropped'), errors: sum(eager, 'errors'), worstMedianMs: worstMedian(eager), minResults: Math.min(...eager.map((r) => r.results)) },
    adaptive: { results: sum(adaptive, 'results'), dropped: sum(adaptive, 'dropped'), errors: sum(adaptive, 'errors'), worstMedianMs: worstMedian(adaptive), minResults: Math.min(...adaptive.map((r) => r.results)) },
  };
  console.log('\n| page | results (all tabs) | fewest results in a tab | shed (all tabs) | worst per-tab median latency | × one tab alone |');
  console.log('|---|---|---|---|---|---|');
  for (const name of ['eager', 'adaptive']) {
    const m = summary[name];
    console.log(
      `| ${name} | ${m.results} | ${m.minResults} | ${m.dropped} | ${fmt(m.worstMedianMs, 0)} ms | ${fmt(m.worstMedianMs / summary.aloneMedianMs)} |`,
    );
  }
  const shedRatio = summary.eager.dropped > 0 ? summary.adaptive.dropped / summary.eager.dropped : NaN;
  console.log(`\nShed frames, adaptive / eager: ${fmt(shedRatio, 2)} (target ≤ 0.5); one tab alone: median ${fmt(summary.aloneMedianMs, 0)} ms.`);

  mkdirSync(testOutputDir, { recursive: true });
  writeFileSync(
    path.join(testOutputDir, 'bench-frontend-tabs.json'),
    `${JSON.stringify({ summary, shedRatio, alone, eager, adaptive }, null, 2)}\n`,
  );
}

const system = new System();
const camera = makeFakeCamera(path.join(sharedTestdata, 'images', 'cat.bmp'));
let browser;
try {
  await system.start();
  browser = await launchBrowser({ fakeVideo: camera });
  if (parts.has('page')) {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(withStatsProbe(`${system.baseUrl}/${pageRate === 'eager' ? '?rate=eager' : ''}`));
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
      rate: pageRate,
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
    console.log(
      `\nFrames are 224×224 JPEG (quality 0.8); the page's ${pageRate} rate (${pageRate === 'eager' ? 'at most 2 in flight, at most 30 sent per second' : 'one in flight, the rate following the answers'}); ${results.cpus} CPU cores shared by Chromium, the hub and the worker.`,
    );

    mkdirSync(testOutputDir, { recursive: true });
    writeFileSync(path.join(testOutputDir, 'bench-frontend.json'), `${JSON.stringify(results, null, 2)}\n`);
  }
  if (parts.has('tabs')) await compareRates(browser);
} finally {
  await browser?.close().catch(() => undefined);
  await system.stop();
  rmSync(path.dirname(camera), { recursive: true, force: true });
}
