// How fast the page sends camera frames, decided from the hub's answers alone
// (no timers, no DOM: the streamer asks it when the next frame may go).
//
// "adaptive" (the default): one frame in flight and a congestion controller
// on the send rate, as TCP does for its window:
// - slow start: each quick result adds 1 fps, so the rate doubles every
//   second of quick results, until the first sign of queueing or shedding;
// - then congestion avoidance: about +INCREASE_FPS_PER_S each second;
// - queueing is measured as a delay gradient: the recent latency (the median
//   of the last few answers, so one slow answer is jitter while frames that
//   wait for a batch, even every other one, count) against this session's own
//   minimum over the last few seconds, not a fixed number of ms a busy
//   laptop's browser alone may exceed. Queueing
//   trims the rate (×SLOW_FACTOR), at most once per round trip;
// - a shed frame (`dropped`: superseded or overloaded; or an error that
//   means "too much": rate_limited, timeout, unavailable) halves it.
// Between a floor and a ceiling (the camera's rate). Many tabs on one worker
// then converge on a fair share instead of each pushing frames the hub drops.
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
/** Where the adaptive rate starts: a guess a small worker manages for a few tabs; slow start doubles it from there. */
export const START_FPS = 5;
/** Slow start: fps gained per quick result, so that r results a second double a rate r each second. */
export const SLOW_START_FPS_PER_RESULT = 1;
/** Congestion avoidance: fps gained per second of quick results. */
export const INCREASE_FPS_PER_S = 2;
/** Multiplicative decrease on a shed frame. */
export const SHED_FACTOR = 0.5;
/** Multiplicative decrease on queueing (frames wait, none shed yet). */
export const SLOW_FACTOR = 0.85;
/**
 * Queueing: the recent latency above this many times the session's minimum…
 * (1.5: a frame that waits for half a batch more than the fastest)…
 */
export const QUEUE_LATENCY_RATIO = 1.5;
/**
 * …plus this margin, so that jitter on a minimum of a few ms is not taken for
 * queueing: on the shared 2-core bench machine a lone tab's answers spread
 * over ~8 ms (median 11, p95 18); with 5 ms two tabs on an idle worker
 * trimmed on noise alone (0.66–0.77× the eager page, docs/benchmarks.md).
 */
export const QUEUE_LATENCY_MARGIN_MS = 10;
/**
 * The recent latency is the median of this many last answers: one or two slow
 * answers (a GC pause, a busy core) never trim the rate, while a queue shows
 * within a few results. (The least of the last 4, tried first, missed the
 * queue of 8 tabs on a small worker, where every other frame waits a batch:
 * their worst median latency reached 2.9× one tab's.)
 */
export const RECENT_LATENCY_RESULTS = 5;
/**
 * How long the minimum latency is remembered (ms): long enough to span
 * several back-offs, short enough to follow a model switch or a move to a
 * slower hub (as BBR's 10 s min-RTT window).
 */
export const MIN_LATENCY_WINDOW_MS = 10_000;

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
  slowStartFpsPerResult: number;
  increaseFpsPerS: number;
  shedFactor: number;
  slowFactor: number;
  queueLatencyRatio: number;
  queueLatencyMarginMs: number;
  recentLatencyResults: number;
  minLatencyWindowMs: number;
  /** The clock (ms), the same one the latencies are measured on. */
  now: () => number;
}

export const ADAPTIVE_DEFAULTS: AdaptiveRateOptions = {
  minFps: MIN_FPS,
  maxFps: MAX_FPS,
  startFps: START_FPS,
  slowStartFpsPerResult: SLOW_START_FPS_PER_RESULT,
  increaseFpsPerS: INCREASE_FPS_PER_S,
  shedFactor: SHED_FACTOR,
  slowFactor: SLOW_FACTOR,
  queueLatencyRatio: QUEUE_LATENCY_RATIO,
  queueLatencyMarginMs: QUEUE_LATENCY_MARGIN_MS,
  recentLatencyResults: RECENT_LATENCY_RESULTS,
  minLatencyWindowMs: MIN_LATENCY_WINDOW_MS,
  now: () => performance.now(),
};

/** The adaptive controller's phase: doubling until the first congestion signal, then additive increase. */
export type AdaptivePhase = 'slowStart' | 'avoidance';

export class AdaptiveRate implements RateController {
  readonly mode = RateMode.adaptive;
  private readonly o: AdaptiveRateOptions;
  private _fps: number;
  private _phase: AdaptivePhase = 'slowStart';
  /** The last few latencies (ms), oldest first. */
  private readonly recent: number[] = [];
  /** Latencies of the window, oldest first, each smaller than all after it (a monotonic deque: its head is the minimum). */
  private readonly minWindow: { at: number; ms: number }[] = [];
  /** When the rate was last cut for queueing: results of frames sent before it say nothing new. */
  private lastCutAt = -Infinity;

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

  get phase(): AdaptivePhase {
    return this._phase;
  }

  /** The session's least latency over the window (ms), or null before the first result. */
  get minLatencyMs(): number | null {
    return this.minWindow[0]?.ms ?? null;
  }

  /** The median of the last few latencies (ms), or null before the first result. */
  get recentLatencyMs(): number | null {
    return this.recent.length > 0 ? median(this.recent) : null;
  }

  onResult(latencyMs: number | null): void {
    if (latencyMs === null || !Number.isFinite(latencyMs) || latencyMs < 0) {
      this.increase();
      return;
    }
    const now = this.o.now();
    this.recordMin(now, latencyMs);
    this.recent.push(latencyMs);
    if (this.recent.length > this.o.recentLatencyResults) this.recent.shift();
    const minMs = this.minWindow[0]?.ms ?? latencyMs;
    const queueing = median(this.recent) > minMs * this.o.queueLatencyRatio + this.o.queueLatencyMarginMs;
    if (!queueing) {
      this.increase();
      return;
    }
    this._phase = 'avoidance';
    // Once per round trip: the frames sent before the last cut still carry the queue it answered.
    const sentAt = now - latencyMs;
    if (sentAt < this.lastCutAt) return;
    this.lastCutAt = now;
    this._fps = this.clamp(this._fps * this.o.slowFactor);
  }

  onShed(): void {
    this._phase = 'avoidance';
    this._fps = this.clamp(this._fps * this.o.shedFactor);
  }

  private recordMin(now: number, ms: number): void {
    const q = this.minWindow;
    while ((q.at(-1)?.ms ?? -Infinity) >= ms) q.pop();
    q.push({ at: now, ms });
    while ((q[0]?.at ?? now) < now - this.o.minLatencyWindowMs) q.shift();
  }

  /** One result's share of the increase: at rate r there are r results a second. */
  private increase(): void {
    const step = this._phase === 'slowStart' ? this.o.slowStartFpsPerResult : this.o.increaseFpsPerS / this._fps;
    this._fps = this.clamp(this._fps + step);
  }

  private clamp(fps: number): number {
    return Math.min(this.o.maxFps, Math.max(this.o.minFps, fps));
  }
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? NaN) : ((s[mid - 1] ?? NaN) + (s[mid] ?? NaN)) / 2;
}

export function createRateController(mode: RateMode): RateController {
  return mode === RateMode.eager ? new EagerRate() : new AdaptiveRate();
}
