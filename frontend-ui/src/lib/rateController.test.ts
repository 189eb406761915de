import { describe, expect, it } from 'vitest';
import {
  AdaptiveRate,
  EagerRate,
  FRAMES_IN_FLIGHT,
  MAX_FPS,
  MIN_FPS,
  RECENT_LATENCY_RESULTS,
  START_FPS,
  createRateController,
  rateModeFromSearch,
  rateSignal,
} from './rateController';

describe('rateModeFromSearch', () => {
  it('is adaptive unless the URL says ?rate=eager', () => {
    expect(rateModeFromSearch('')).toBe('adaptive');
    expect(rateModeFromSearch('?rate=adaptive')).toBe('adaptive');
    expect(rateModeFromSearch('?probe=1&rate=eager')).toBe('eager');
    expect(rateModeFromSearch('?rate=EAGER')).toBe('adaptive');
    expect(rateModeFromSearch('?rate=fast')).toBe('adaptive');
  });

  it('keeps one frame in flight when adaptive, two when eager', () => {
    expect(FRAMES_IN_FLIGHT.adaptive).toBe(1);
    expect(FRAMES_IN_FLIGHT.eager).toBe(2);
    expect(createRateController('eager')).toBeInstanceOf(EagerRate);
    expect(createRateController('adaptive')).toBeInstanceOf(AdaptiveRate);
  });
});

describe('rateSignal', () => {
  it('sheds on dropped and on the errors that mean too many frames', () => {
    expect(rateSignal({ type: 'result' })).toBe('result');
    expect(rateSignal({ type: 'dropped' })).toBe('shed');
    expect(rateSignal({ type: 'error', code: 'rate_limited' })).toBe('shed');
    expect(rateSignal({ type: 'error', code: 'timeout' })).toBe('shed');
    expect(rateSignal({ type: 'error', code: 'unavailable' })).toBe('shed');
    expect(rateSignal({ type: 'error', code: 'bad_image' })).toBe('none');
    expect(rateSignal({ type: 'error', code: 'something_new' })).toBe('none');
  });
});

describe('EagerRate', () => {
  it('sends at its cap whatever the answers say', () => {
    const r = new EagerRate();
    r.onShed();
    r.onResult(5_000);
    expect(r.fps).toBe(MAX_FPS);
    expect(r.intervalMs).toBeCloseTo(1000 / 30);
  });
});

/** A fake clock, and one frame in flight through a system whose latency `latencyAt(t)` gives, as the streamer sends them. */
function simulate(latencyAt: (t: number) => number) {
  let t = 0;
  const r = new AdaptiveRate({ now: () => t });
  let lastSend = -Infinity;
  const run = (untilMs: number, onEach?: () => void) => {
    while (t < untilMs) {
      const send = Math.max(t, lastSend + r.intervalMs);
      lastSend = send;
      const latency = latencyAt(send);
      t = send + latency;
      r.onResult(latency);
      onEach?.();
    }
  };
  return { r, run, now: () => t };
}

describe('AdaptiveRate', () => {
  it('slow start: doubles each second of quick results, then stops doubling at the first queueing', () => {
    let t = 0;
    const r = new AdaptiveRate({ now: () => t, maxFps: 1000 });
    expect(r.phase).toBe('slowStart');
    expect(r.fps).toBe(START_FPS);
    // One second's worth of quick results at each rate: 5 → 10 → 20.
    for (const expected of [10, 20, 40]) {
      const perSecond = Math.round(r.fps);
      for (let i = 0; i < perSecond; i++) {
        t += 1000 / perSecond;
        r.onResult(10);
      }
      expect(r.fps).toBe(expected);
    }
    // Queueing: every recent answer past 1.5 × 10 + 10 ms.
    let cuts = 0;
    for (let i = 0; i < 40 && r.phase === 'slowStart'; i++) {
      t += 25;
      r.onResult(60);
      cuts++;
    }
    expect(r.phase).toBe('avoidance');
    expect(cuts).toBeLessThan(5);
    expect(r.fps).toBeLessThan(40);
    // Once the queue has drained (the recent latencies quick again)…
    for (let i = 0; i < RECENT_LATENCY_RESULTS; i++) {
      t += 50;
      r.onResult(10);
    }
    // …quick results add about 2 fps a second, no longer double.
    const before = r.fps;
    const perSecond = Math.round(before);
    for (let i = 0; i < perSecond; i++) {
      t += 1000 / perSecond;
      r.onResult(10);
    }
    expect(r.fps).toBeGreaterThan(before + 1.5);
    expect(r.fps).toBeLessThan(before + 2.5);
  });

  it('reaches the camera cap within a few seconds on a system of constant latency', () => {
    const sim = simulate(() => 12);
    let reachedAt = Infinity;
    sim.run(3_000, () => {
      if (reachedAt === Infinity && sim.r.fps >= 0.9 * MAX_FPS) reachedAt = sim.now();
    });
    expect(reachedAt).toBeLessThan(3_000);
    sim.run(20_000);
    expect(sim.r.fps).toBe(MAX_FPS);
    expect(sim.r.phase).toBe('slowStart'); // nothing ever queued
  });

  it('one slow answer among quick ones is jitter, not queueing', () => {
    let t = 0;
    const r = new AdaptiveRate({ now: () => t, startFps: 10 });
    for (let i = 0; i < 10; i++) {
      t += 100;
      r.onResult(10);
    }
    const before = r.fps;
    t += 100;
    r.onResult(80); // one slow answer: the median of the last 5 is still 10 ms
    expect(r.fps).toBeGreaterThan(before);
    expect(r.phase).toBe('slowStart');
  });

  it('backs off when the latency rises above its minimum, once per round trip', () => {
    // 10 ms until 5 s, then the worker slows: 80 ms.
    const sim = simulate((t) => (t < 5_000 ? 10 : 80));
    sim.run(4_900); // the last frame sent before the change
    expect(sim.r.fps).toBe(MAX_FPS);
    const cutsSeen: number[] = [];
    let last = sim.r.fps;
    sim.run(5_600, () => {
      if (sim.r.fps < last) cutsSeen.push(sim.r.fps / last);
      last = sim.r.fps;
    });
    expect(sim.r.phase).toBe('avoidance');
    expect(sim.r.fps).toBeLessThan(MAX_FPS);
    // Each cut is ×0.85, and one frame in flight means each result is its own round trip.
    for (const f of cutsSeen) expect(f).toBeCloseTo(0.85);
    // A frame sent before a cut does not cut again.
    let u = 0;
    const q = new AdaptiveRate({ now: () => u, startFps: 20, recentLatencyResults: 1 });
    q.onResult(10);
    const f0 = q.fps;
    u = 1_000;
    q.onResult(200); // > 1.5 × 10 + 10 ms: cut at 1000
    expect(q.fps).toBeCloseTo(f0 * 0.85);
    u = 1_050;
    q.onResult(200); // sent at 850, before the cut
    expect(q.fps).toBeCloseTo(f0 * 0.85);
    u = 1_300;
    q.onResult(200); // sent at 1100, after it
    expect(q.fps).toBeCloseTo(f0 * 0.85 * 0.85);
  });

  it('forgets a minimum older than its window: a slower hub becomes the new normal', () => {
    // 10 ms for 5 s, then 100 ms for good (a move to a slower hub or model).
    const sim = simulate((t) => (t < 5_000 ? 10 : 100));
    sim.run(5_000);
    expect(sim.r.minLatencyMs).toBe(10);
    sim.run(6_000);
    const low = sim.r.fps;
    expect(low).toBeLessThan(MAX_FPS);
    sim.run(16_000); // the 10 ms answers are now more than 10 s old
    expect(sim.r.minLatencyMs).toBe(100);
    const before = sim.r.fps;
    sim.run(19_000);
    expect(sim.r.fps).toBeGreaterThan(before);
  });

  it('never goes above the ceiling', () => {
    const r = new AdaptiveRate();
    for (let i = 0; i < 10_000; i++) r.onResult(30);
    expect(r.fps).toBe(MAX_FPS);
  });

  it('halves on a shed frame and leaves slow start, down to the floor and no further', () => {
    const r = new AdaptiveRate({ startFps: 16 });
    r.onShed();
    expect(r.phase).toBe('avoidance');
    expect(r.fps).toBe(8);
    r.onShed();
    expect(r.fps).toBe(4);
    for (let i = 0; i < 20; i++) r.onShed();
    expect(r.fps).toBe(MIN_FPS);
    expect(r.intervalMs).toBe(2000);
  });

  it('AIMD: two tabs sharing a capacity converge towards equal rates', () => {
    // A toy worker of 10 frames/s: each step, both tabs get a result;
    // when their sum exceeds the capacity, both are shed.
    const a = new AdaptiveRate({ startFps: 1 });
    const b = new AdaptiveRate({ startFps: 9 });
    for (let step = 0; step < 400; step++) {
      if (a.fps + b.fps > 10) {
        a.onShed();
        b.onShed();
      } else {
        a.onResult(40);
        b.onResult(40);
      }
    }
    expect(Math.abs(a.fps - b.fps)).toBeLessThan(1);
    expect(a.fps + b.fps).toBeLessThanOrEqual(10.5);
  });

  it('rejects a floor above the ceiling', () => {
    expect(() => new AdaptiveRate({ minFps: 5, maxFps: 2 })).toThrow(RangeError);
    expect(() => new AdaptiveRate({ minFps: 0 })).toThrow(RangeError);
  });
});
