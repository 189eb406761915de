import { describe, expect, it } from 'vitest';
import { LiveStats, median, percentile } from './stats';

describe('median and percentile', () => {
  it('computes them', () => {
    expect(median([])).toBeNull();
    expect(median([5])).toBe(5);
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95)).toBe(10);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50)).toBe(5);
    expect(percentile([], 95)).toBeNull();
  });
});

describe('LiveStats', () => {
  it('measures results per second over the window', () => {
    let now = 0;
    const s = new LiveStats(5_000, () => now);
    for (let i = 0; i < 11; i++) {
      now = i * 100; // 10 results a second
      s.addResult(40);
    }
    expect(s.snapshot().fps).toBeCloseTo(10, 5);
    expect(s.snapshot().latencyMedianMs).toBe(40);
  });

  it('decays to 0 when results stop', () => {
    let now = 0;
    const s = new LiveStats(5_000, () => now);
    for (let i = 0; i < 10; i++) {
      now = i * 100;
      s.addResult(30);
    }
    now = 3_000;
    expect(s.snapshot().fps).toBeLessThan(4);
    now = 10_000;
    const snap = s.snapshot();
    expect(snap.fps).toBe(0);
    expect(snap.latencyMedianMs).toBeNull();
    expect(snap.results).toBe(10);
  });

  it('takes the median latency over the last seconds only', () => {
    let now = 0;
    const s = new LiveStats(5_000, () => now);
    s.addResult(1000);
    now = 6_000;
    s.addResult(20);
    s.addResult(30);
    s.addResult(null); // a watched result has no latency
    s.addResult(40);
    expect(s.snapshot().latencyMedianMs).toBe(30);
    expect(s.snapshot().latencyP95Ms).toBe(40);
  });

  it('counts errors and drops', () => {
    const s = new LiveStats(5_000, () => 0);
    s.addDropped();
    s.addDropped();
    s.addError();
    expect(s.snapshot()).toMatchObject({ dropped: 2, errors: 1, results: 0, fps: 0 });
  });

  it('measures the send rate apart from the result rate', () => {
    let now = 0;
    const s = new LiveStats(5_000, () => now);
    for (let i = 0; i <= 20; i++) {
      now = i * 100; // 10 frames/s sent…
      s.addSent(now);
      if (i % 2 === 0) s.addResult(50, now); // …5 results/s
    }
    expect(s.snapshot().sentFps).toBeCloseTo(10, 5);
    expect(s.snapshot().fps).toBeCloseTo(5, 5);
    s.resetWindow();
    expect(s.snapshot().sentFps).toBe(0);
  });
});
