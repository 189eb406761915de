// How fast the page sends camera frames, decided from the hub's answers alone
// (no timers, no DOM: the streamer asks it when the next frame may go).
//
// "adaptive" (the default): one frame in flight and AIMD on the send rate.
// A quick result adds to the rate (about +INCREASE_FPS_PER_S each second of
// quick results); a result that took much longer than the fastest recent one
// (frames queueing at the worker) trims it a little; a shed frame (`dropped`,
// or an error that means "too much": rate_limited, timeout, unavailable)
// halves it. Between a floor and a ceiling. Many tabs on one worker then
// converge on a fair share instead of each pushing frames the hub must drop.
//
// "eager" (?rate=eager): the page as it was before, kept for a same-run
// comparison in the benchmark: two frames in flight, the next one as soon as
// a slot frees, at most 30 per second.

import { ErrorCode, type HubErrorCode } from './contract';

export const RateMode = { adaptive: 'adaptive', eager: 'eager' } as const;
export type RateMode = (typeof RateMode)[keyof typeof RateMode];

/** The page URL's query parameter that picks the mode: `/?rate=eager`. */
export const RATE_PARAM = 'rate';

/** The mode the page URL's query (`location.search`) asks for; adaptive unless it says eager. */
export function rateModeFromSearch(search: string): RateMode {
  return new URLSearchParams(search).get(RATE_PARAM) === RateMode.eager ? RateMode.eager : RateMode.adaptive;
}

/** Frames a tab keeps unanswered in each mode (the hub may announce fewer). */
export const FRAMES_IN_FLIGHT: Readonly<Record<RateMode, number>> = { adaptive: 1, eager: 2 };

/** The eager page's cap, and the adaptive page's ceiling: more is wasted on a 224×224 classifier. */
export const MAX_FPS = 30;
/** The adaptive floor: a tab that keeps being shed still gets a fresh label every other second. */
export const MIN_FPS = 0.5;
/** Where the adaptive rate starts: a guess a small worker manages for a few tabs. */
export const START_FPS = 5;
/** Additive increase: fps gained per second of quick results. */
export const INCREASE_FPS_PER_S = 2;
/** Multiplicative decrease on a shed frame. */
export const SHED_FACTOR = 0.5;
/** Multiplicative decrease on a slow result (queueing, not yet shedding). */
export const SLOW_FACTOR = 0.85;
/**
 * A result is slow when it took more than this many times the fastest recent
 * one (frames queue somewhere: the worker, the hub, a busy CPU)…
 */
export const SLOW_LATENCY_RATIO = 2;
/**
 * …and more than this (below it, jitter of a few ms is no congestion). Low
 * enough that a tab alone answered in ~15 ms trims once its frames wait for a
 * second batch: with 50 ms, 8 tabs on one worker settled at ~4× one tab's
 * latency; the issue asks ≤ 2×.
 */
export const SLOW_LATENCY_FLOOR_MS = 20;
/** Results over which the fastest latency is taken (a few seconds' worth). */
export const LATENCY_WINDOW = 20;

/** What an answer says about the rate. */
export type RateSignal = 'result' | 'shed' | 'none';

/** `dropped` (superseded or overloaded) and the errors that mean "too many frames" are shed; other errors say nothing about the rate. */
export function rateSignal(
  answer: { type: 'result' } | { type: 'dropped' } | { type: 'error'; code: HubErrorCode },
): RateSignal {
  switch (answer.type) {
    case 'result':
      return 'result';
    case 'dropped':
      // Either reason: superseded means frames went faster than answers came, overloaded that every worker was full.
      return 'shed';
    case 'error':
      return answer.code === ErrorCode.rateLimited || answer.code === ErrorCode.timeout || answer.code === ErrorCode.unavailable
        ? 'shed'
        : 'none';
  }
}

export interface RateController {
  readonly mode: RateMode;
  /** The send rate aimed at now (frames/s). */
  readonly fps: number;
  /** The least time between two frames sent (ms). */
  readonly intervalMs: number;
  /** A result came back `latencyMs` after its frame was sent. */
  onResult(latencyMs: number | null): void;
  /** A frame was shed (see rateSignal). */
  onShed(): void;
}

/** Today's page: a fixed cap, no reaction to the answers (flow control alone limits it). */
export class EagerRate implements RateController {
  readonly mode = RateMode.eager;
  readonly fps = MAX_FPS;
  readonly intervalMs = 1000 / MAX_FPS;
  onResult(_latencyMs: number | null): void {}
  onShed(): void {}
}

export interface AdaptiveRateOptions {
  minFps: number;
  maxFps: number;
  startFps: number;
  increaseFpsPerS: number;
  shedFactor: number;
  slowFactor: number;
  slowLatencyRatio: number;
  slowLatencyFloorMs: number;
  latencyWindow: number;
}

export const ADAPTIVE_DEFAULTS: AdaptiveRateOptions = {
  minFps: MIN_FPS,
  maxFps: MAX_FPS,
  startFps: START_FPS,
  increaseFpsPerS: INCREASE_FPS_PER_S,
  shedFactor: SHED_FACTOR,
  slowFactor: SLOW_FACTOR,
  slowLatencyRatio: SLOW_LATENCY_RATIO,
  slowLatencyFloorMs: SLOW_LATENCY_FLOOR_MS,
  latencyWindow: LATENCY_WINDOW,
};

export class AdaptiveRate implements RateController {
  readonly mode = RateMode.adaptive;
  private readonly o: AdaptiveRateOptions;
  private _fps: number;
  private readonly latencies: number[] = [];

  constructor(options: Partial<AdaptiveRateOptions> = {}) {
    this.o = { ...ADAPTIVE_DEFAULTS, ...options };
    if (!(this.o.minFps > 0 && this.o.minFps <= this.o.maxFps)) {
      throw new RangeError(`adaptive rate: need 0 < minFps (${this.o.minFps}) <= maxFps (${this.o.maxFps})`);
    }
    this._fps = this.clamp(this.o.startFps);
  }

  get fps(): number {
    return this._fps;
  }

  get intervalMs(): number {
    return 1000 / this._fps;
  }

  onResult(latencyMs: number | null): void {
    if (latencyMs === null || !Number.isFinite(latencyMs) || latencyMs < 0) {
      this.increase();
      return;
    }
    const fastest = this.latencies.length > 0 ? Math.min(...this.latencies) : latencyMs;
    this.latencies.push(latencyMs);
    if (this.latencies.length > this.o.latencyWindow) this.latencies.shift();
    const slow = latencyMs > this.o.slowLatencyFloorMs && latencyMs > fastest * this.o.slowLatencyRatio;
    if (slow) this._fps = this.clamp(this._fps * this.o.slowFactor);
    else this.increase();
  }

  onShed(): void {
    this._fps = this.clamp(this._fps * this.o.shedFactor);
  }

  /** One result's share of the per-second increase: at rate r there are r results a second. */
  private increase(): void {
    this._fps = this.clamp(this._fps + this.o.increaseFpsPerS / this._fps);
  }

  private clamp(fps: number): number {
    return Math.min(this.o.maxFps, Math.max(this.o.minFps, fps));
  }
}

export function createRateController(mode: RateMode): RateController {
  return mode === RateMode.eager ? new EagerRate() : new AdaptiveRate();
}
