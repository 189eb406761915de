// The one hook that owns the hub WebSocket. It wraps HubClient and turns its
// events into React state, rolling stats, and window.__hubStats for the bench.

import { useCallback, useEffect, useRef, useState } from 'react';
import { HubClient, type ConnectionState, type HubClientOptions, type SentFrame } from './hubClient';
import { hubSocketUrl, type ErrorMessage, type ResultMessage } from './protocol';
import { LiveStats, type StatsSnapshot } from './stats';

export interface FrameSample {
  seq: number;
  capturedAt?: number;
  sentAt: number;
  resultAt: number;
  /** When React had committed the labels of this result to the page. */
  shownAt?: number;
}

/** What the page exposes for the benchmark and for debugging. */
export interface HubStatsGlobal {
  mode: 'live' | 'watch';
  state: ConnectionState;
  session: string | null;
  sent: number;
  results: number;
  errors: number;
  dropped: number;
  fps: number;
  latencyMedianMs: number | null;
  topLabel: string | null;
  samples: FrameSample[];
}

declare global {
  interface Window {
    __hubStats?: HubStatsGlobal;
  }
}

const MAX_SAMPLES = 5_000;

export interface UseHubSocketOptions {
  /** Connect at all (false during server rendering and before the mode is known). */
  enabled: boolean;
  /** Watch another session instead of streaming. */
  watch?: string | null;
  maxInFlight?: number;
  /** Inject the client options in tests. */
  clientOptions?: Partial<HubClientOptions>;
}

export interface HubSocket {
  client: HubClient | null;
  connection: ConnectionState;
  retryInMs: number | null;
  /** True once a connection ever got a welcome (to tell "unreachable" from "lost"). */
  everConnected: boolean;
  session: string | null;
  lastResult: ResultMessage | null;
  /** The last error, cleared by the next result. */
  lastError: ErrorMessage | null;
  /** The close code of the last connection, when the client gave up (state "closed"). */
  closeCode: number | null;
  /** Watch mode: the watched session has ended. */
  ended: boolean;
  stats: StatsSnapshot;
  reconnectNow: () => void;
  /** Sends a frame if flow control allows; returns its seq or null. */
  sendFrame: (data: Blob, capturedAt?: number) => number | null;
  resetRate: () => void;
}

const EMPTY_STATS: StatsSnapshot = {
  fps: 0,
  latencyMedianMs: null,
  latencyP95Ms: null,
  results: 0,
  errors: 0,
  dropped: 0,
};

export function useHubSocket({ enabled, watch = null, maxInFlight = 2, clientOptions }: UseHubSocketOptions): HubSocket {
  const [client, setClient] = useState<HubClient | null>(null);
  const [connection, setConnection] = useState<ConnectionState>('idle');
  const [retryInMs, setRetryInMs] = useState<number | null>(null);
  const [everConnected, setEverConnected] = useState(false);
  const [session, setSession] = useState<string | null>(null);
  const [lastResult, setLastResult] = useState<ResultMessage | null>(null);
  const [lastError, setLastError] = useState<ErrorMessage | null>(null);
  const [closeCode, setCloseCode] = useState<number | null>(null);
  const [ended, setEnded] = useState(false);
  const [stats, setStats] = useState<StatsSnapshot>(EMPTY_STATS);
  const statsRef = useRef<LiveStats | null>(null);
  const pendingShown = useRef<FrameSample | null>(null);
  const clientOptionsRef = useRef(clientOptions);

  useEffect(() => {
    if (!enabled) return;
    const live = new LiveStats(5_000);
    statsRef.current = live;
    const global: HubStatsGlobal = {
      mode: watch ? 'watch' : 'live',
      state: 'idle',
      session: null,
      sent: 0,
      results: 0,
      errors: 0,
      dropped: 0,
      fps: 0,
      latencyMedianMs: null,
      topLabel: null,
      samples: [],
    };
    window.__hubStats = global;

    // A streaming tab asks to keep its session id when it reconnects, so
    // the tabs watching it keep following it.
    const c: HubClient = new HubClient({
      url: () => hubSocketUrl(window.location, watch, c.lastSession),
      maxInFlight,
      ...clientOptionsRef.current,
    });
    const publish = () => {
      const snap = live.snapshot();
      setStats(snap);
      global.results = snap.results;
      global.errors = snap.errors;
      global.dropped = snap.dropped;
      global.fps = snap.fps;
      global.latencyMedianMs = snap.latencyMedianMs;
    };
    const unsubscribe = c.subscribe((ev) => {
      switch (ev.type) {
        case 'state':
          setConnection(ev.state);
          setRetryInMs(ev.retryInMs);
          setCloseCode(ev.state === 'closed' ? (ev.closeCode ?? null) : null);
          global.state = ev.state;
          if (ev.state !== 'connected') {
            setSession(null);
            global.session = null;
          }
          break;
        case 'welcome':
          setSession(ev.message.session);
          setEverConnected(true);
          setEnded(false);
          global.session = ev.message.session;
          break;
        case 'result': {
          const f: SentFrame | null = ev.frame;
          live.addResult(f ? ev.receivedAt - f.sentAt : null, ev.receivedAt);
          if (f) {
            const sample: FrameSample = { seq: f.seq, sentAt: f.sentAt, resultAt: ev.receivedAt };
            if (f.capturedAt !== undefined) sample.capturedAt = f.capturedAt;
            global.samples.push(sample);
            if (global.samples.length > MAX_SAMPLES) global.samples.splice(0, global.samples.length - MAX_SAMPLES);
            pendingShown.current = sample;
          } else {
            pendingShown.current = null;
          }
          global.topLabel = ev.message.predictions[0]?.label ?? null;
          setEnded(false); // a watched session that resumed streams again
          setLastResult(ev.message);
          setLastError(null);
          publish();
          break;
        }
        case 'error':
          if (ev.message.seq) live.addError();
          setLastError(ev.message);
          publish();
          break;
        case 'dropped':
          live.addDropped();
          publish();
          break;
        case 'ended':
          setEnded(true);
          break;
        case 'pong':
          break;
      }
    });
    setClient(c);
    c.connect();
    // Keep the rate decaying when results stop arriving.
    const tick = setInterval(publish, 1_000);
    return () => {
      clearInterval(tick);
      unsubscribe();
      c.close();
      setClient(null);
      setConnection('closed');
      statsRef.current = null;
    };
  }, [enabled, watch, maxInFlight]);

  // Time at which a result's labels are on the page (for the benchmark).
  useEffect(() => {
    const s = pendingShown.current;
    if (s && s.shownAt === undefined) s.shownAt = performance.now();
    pendingShown.current = null;
  }, [lastResult]);

  const reconnectNow = useCallback(() => client?.reconnectNow(), [client]);
  const sendFrame = useCallback(
    (data: Blob, capturedAt?: number) => {
      if (!client) return null;
      const seq = client.sendFrame(data, capturedAt);
      if (seq !== null && window.__hubStats) window.__hubStats.sent += 1;
      return seq;
    },
    [client],
  );
  const resetRate = useCallback(() => {
    statsRef.current?.resetWindow();
    if (statsRef.current) setStats(statsRef.current.snapshot());
  }, []);

  return {
    client,
    connection,
    retryInMs,
    everConnected,
    session,
    lastResult,
    lastError,
    closeCode,
    ended,
    stats,
    reconnectNow,
    sendFrame,
    resetRate,
  };
}
