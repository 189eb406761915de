// window.__hubStats: what the page exposes for the benchmark (e2e/bench.mjs)
// and the browser tests (e2e/page.test.mjs), only when its URL asks for it
// (?probe=1). Counters come from the store's snapshot; frames sent and
// per-frame times from a listener on the client. Nothing on the page reads it.

import type { ConnectionState } from './hubClient';
import type { HubStore } from './hubStore';
import type { ResultMessage } from './contract';
import type { RateMode } from './rateController';

export interface FrameSample {
  seq: number;
  capturedAt?: number;
  sentAt: number;
  resultAt: number;
  /** When React had committed the labels of this result to the page. */
  shownAt?: number;
}

export interface HubStatsGlobal {
  mode: 'live' | 'watch';
  state: ConnectionState;
  session: string | null;
  sent: number;
  results: number;
  errors: number;
  dropped: number;
  fps: number;
  /** Frames sent per second (the page's effective rate). */
  sentFps: number;
  /** The streamer's rate mode and its current target (frames/s); null in watch mode. */
  rateMode: RateMode | null;
  targetFps: number | null;
  latencyMedianMs: number | null;
  topLabel: string | null;
  samples: FrameSample[];
}

declare global {
  interface Window {
    __hubStats?: HubStatsGlobal;
  }
}

/** The page URL's query parameter that turns the probe on: `/?probe=1`. */
export const STATS_PROBE_PARAM = 'probe';

/** Whether the page URL's query (`location.search`) asks for the probe. */
export function statsProbeRequested(search: string): boolean {
  return new URLSearchParams(search).get(STATS_PROBE_PARAM) === '1';
}

/** Samples kept (about three minutes at 30 results/s): enough for a benchmark window, bounded. */
const MAX_SAMPLES = 5_000;

export interface HubStatsProbe {
  /** Call once the page shows `result` (after React committed it): stamps its sample's shownAt. */
  shown(result: ResultMessage | null): void;
  /** The streamer's rate mode and target (frames/s). */
  rate(mode: RateMode, fps: number): void;
  dispose(): void;
}

/** Publishes `store`'s figures as window.__hubStats until disposed. */
export function exposeHubStats(store: HubStore, mode: HubStatsGlobal['mode']): HubStatsProbe {
  const global: HubStatsGlobal = {
    mode,
    state: 'idle',
    session: null,
    sent: 0,
    results: 0,
    errors: 0,
    dropped: 0,
    fps: 0,
    sentFps: 0,
    rateMode: null,
    targetFps: null,
    latencyMedianMs: null,
    topLabel: null,
    samples: [],
  };
  window.__hubStats = global;
  let pending: { result: ResultMessage; sample: FrameSample } | null = null;

  const unsubscribeStore = store.subscribe(() => {
    const snap = store.getSnapshot();
    global.state = snap.connection;
    global.session = snap.session;
    global.results = snap.stats.results;
    global.errors = snap.stats.errors;
    global.dropped = snap.stats.dropped;
    global.fps = snap.stats.fps;
    global.sentFps = snap.stats.sentFps;
    global.latencyMedianMs = snap.stats.latencyMedianMs;
  });
  const unsubscribeClient = store.client.subscribe((ev) => {
    if (ev.type === 'sent') global.sent += 1;
    if (ev.type !== 'result') return;
    global.topLabel = ev.message.predictions[0]?.label ?? null;
    const f = ev.frame;
    if (!f) {
      pending = null;
      return;
    }
    const sample: FrameSample = { seq: f.seq, sentAt: f.sentAt, resultAt: ev.receivedAt };
    if (f.capturedAt !== undefined) sample.capturedAt = f.capturedAt;
    global.samples.push(sample);
    if (global.samples.length > MAX_SAMPLES) global.samples.splice(0, global.samples.length - MAX_SAMPLES);
    pending = { result: ev.message, sample };
  });

  return {
    shown(result) {
      if (pending && pending.result === result && pending.sample.shownAt === undefined) {
        pending.sample.shownAt = performance.now();
      }
      pending = null;
    },
    rate(mode, fps) {
      global.rateMode = mode;
      global.targetFps = fps;
    },
    dispose() {
      unsubscribeStore();
      unsubscribeClient();
    },
  };
}
