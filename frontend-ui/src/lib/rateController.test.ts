import { describe, expect, it } from 'vitest';
import {
  AdaptiveRate,
  EagerRate,
  FRAMES_IN_FLIGHT,
  MAX_FPS,
  MIN_FPS,
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

describe('AdaptiveRate', () => {
  it('starts at the start rate and grows by about 2 fps per second of quick results', () => {
    const r = new AdaptiveRate();
    expect(r.fps).toBe(START_FPS);
    // One second's worth of results at the current rate.
    const perSecond = Math.round(r.fps);
    for (let i = 0; i < perSecond; i++) r.onResult(40);
    expect(r.fps).toBeGreaterThan(START_FPS + 1.5);
    expect(r.fps).toBeLessThan(START_FPS + 2.5);
    expect(r.intervalMs).toBeCloseTo(1000 / r.fps);
  });

  it('never goes above the ceiling', () => {
    const r = new AdaptiveRate();
    for (let i = 0; i < 10_000; i++) r.onResult(30);
    expect(r.fps).toBe(MAX_FPS);
  });

  it('halves on a shed frame, down to the floor and no further', () => {
    const r = new AdaptiveRate({ startFps: 16 });
    r.onShed();
    expect(r.fps).toBe(8);
    r.onShed();
    expect(r.fps).toBe(4);
    for (let i = 0; i < 20; i++) r.onShed();
    expect(r.fps).toBe(MIN_FPS);
    expect(r.intervalMs).toBe(2000);
  });

  it('trims the rate on results much slower than the fastest recent one', () => {
    const r = new AdaptiveRate({ startFps: 10 });
    r.onResult(50);
    const before = r.fps;
    r.onResult(400); // 8× the fastest and above the floor: queueing
    expect(r.fps).toBeCloseTo(before * 0.85);
    // Slow but under the floor is jitter, not congestion.
    const q = new AdaptiveRate({ startFps: 10 });
    q.onResult(6);
    const qBefore = q.fps;
    q.onResult(18);
    expect(q.fps).toBeGreaterThan(qBefore);
  });

  it('forgets fast results older than its window', () => {
    const r = new AdaptiveRate({ startFps: 10, latencyWindow: 3 });
    r.onResult(50);
    for (let i = 0; i < 3; i++) r.onResult(300); // the first is slow, then 300 becomes the norm
    const before = r.fps;
    r.onResult(300);
    expect(r.fps).toBeGreaterThan(before);
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
