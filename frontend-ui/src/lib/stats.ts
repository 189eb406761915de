// Rolling measurements of the live stream: results per second and the
// round-trip latency (frame sent → result received) over a recent window.

export interface StatsSnapshot {
  /** Results per second over the window. */
  fps: number;
  /** Frames sent per second over the window: the page's effective send rate. */
  sentFps: number;
  /** Median send→result time in ms over the window, or null without samples. */
  latencyMedianMs: number | null;
  /** 95th percentile of the same, or null. */
  latencyP95Ms: number | null;
  results: number;
  errors: number;
  dropped: number;
}

export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? null;
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? null) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

export class LiveStats {
  private arrivals: number[] = [];
  private sends: number[] = [];
  private latencies: { at: number; ms: number }[] = [];
  results = 0;
  errors = 0;
  dropped = 0;

  constructor(
    private readonly windowMs = 5_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  addResult(rttMs: number | null, at = this.now()): void {
    this.results += 1;
    this.arrivals.push(at);
    if (rttMs !== null && Number.isFinite(rttMs)) this.latencies.push({ at, ms: rttMs });
    this.trim(at);
  }

  addSent(at = this.now()): void {
    this.sends.push(at);
    this.trim(at);
  }

  addError(): void {
    this.errors += 1;
  }

  addDropped(): void {
    this.dropped += 1;
  }

  /** Forgets the rate window (e.g. after a pause) but keeps the totals. */
  resetWindow(): void {
    this.arrivals = [];
    this.sends = [];
    this.latencies = [];
  }

  snapshot(at = this.now()): StatsSnapshot {
    this.trim(at);
    const sorted = this.latencies.map((l) => l.ms).sort((a, b) => a - b);
    return {
      fps: this.rate(this.arrivals, at),
      sentFps: this.rate(this.sends, at),
      latencyMedianMs: median(sorted),
      latencyP95Ms: percentile(sorted, 95),
      results: this.results,
      errors: this.errors,
      dropped: this.dropped,
    };
  }

  /** Events per second among `times` (all within the window). */
  private rate(times: readonly number[], at: number): number {
    const n = times.length;
    if (n >= 2) {
      const first = times[0] ?? at;
      // Rate over the span actually covered, so the number is right from the first second on.
      const span = Math.max(at - first, 1);
      // When events stop, `at` moves on and the rate decays to 0 by itself.
      return ((n - 1) * 1000) / span;
    }
    return n === 1 ? 1000 / this.windowMs : 0;
  }

  private trim(at: number): void {
    const limit = at - this.windowMs;
    while (this.arrivals.length > 0 && (this.arrivals[0] ?? 0) < limit) this.arrivals.shift();
    while (this.sends.length > 0 && (this.sends[0] ?? 0) < limit) this.sends.shift();
    while (this.latencies.length > 0 && (this.latencies[0]?.at ?? 0) < limit) this.latencies.shift();
  }
}
