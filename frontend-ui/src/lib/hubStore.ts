// The hub connection as an external store for React's useSyncExternalStore:
// it folds the client's events into one immutable snapshot per change, and
// keeps the rolling stats of the stream.

import type { ConnectionState, HubClient, HubEvent } from './hubClient';
import type { ErrorMessage, ResultMessage } from './contract';
import { LiveStats, type StatsSnapshot } from './stats';

export interface HubSnapshot {
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
  /** The `protocol` of the last welcome (null before one, or when the hub sent none). */
  hubProtocol: number | null;
  /** The hub records the frames of this connection (its welcome said so); false while not connected. */
  recording: boolean;
  stats: StatsSnapshot;
}

export const INITIAL_HUB_SNAPSHOT: HubSnapshot = {
  connection: 'idle',
  retryInMs: null,
  everConnected: false,
  session: null,
  lastResult: null,
  lastError: null,
  closeCode: null,
  ended: false,
  hubProtocol: null,
  recording: false,
  stats: { fps: 0, sentFps: 0, latencyMedianMs: null, latencyP95Ms: null, results: 0, errors: 0, dropped: 0 },
};

/** Rates and latencies are over the last 5 s: long enough to be steady, short enough to follow a change. */
const STATS_WINDOW_MS = 5_000;
/** Republish the stats this often so the rate decays when results stop arriving. */
const STATS_TICK_MS = 1_000;

export class HubStore {
  private snapshot: HubSnapshot = INITIAL_HUB_SNAPSHOT;
  private readonly listeners = new Set<() => void>();
  private readonly stats = new LiveStats(STATS_WINDOW_MS);
  private tick: ReturnType<typeof setInterval> | null = null;
  private unsubscribeClient: (() => void) | null = null;

  constructor(readonly client: HubClient) {}

  /** For useSyncExternalStore (bound, so it can be passed as is). */
  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  };

  /** For useSyncExternalStore: the same object until something changes. */
  readonly getSnapshot = (): HubSnapshot => this.snapshot;

  /** Connects, and keeps reconnecting until stop(). */
  start(): void {
    if (this.unsubscribeClient) return;
    this.unsubscribeClient = this.client.subscribe((ev) => this.handle(ev));
    this.client.connect();
    this.tick = setInterval(() => this.publishStats(), STATS_TICK_MS);
  }

  /** Closes the connection for good. */
  stop(): void {
    if (this.tick !== null) clearInterval(this.tick);
    this.tick = null;
    this.unsubscribeClient?.();
    this.unsubscribeClient = null;
    this.client.close();
    this.update({ connection: 'closed', recording: false });
  }

  readonly reconnectNow = (): void => this.client.reconnectNow();

  /** Sends a frame if flow control allows; returns its seq or null. */
  readonly sendFrame = (data: Blob, capturedAt?: number): number | null => this.client.sendFrame(data, capturedAt);

  /** Forgets the rate window (e.g. after a pause) but keeps the totals. */
  readonly resetRate = (): void => {
    this.stats.resetWindow();
    this.publishStats();
  };

  private handle(ev: HubEvent): void {
    switch (ev.type) {
      case 'state':
        this.update({
          connection: ev.state,
          retryInMs: ev.retryInMs,
          closeCode: ev.state === 'closed' ? (ev.closeCode ?? null) : null,
          ...(ev.state === 'connected' ? {} : { session: null, recording: false }),
        });
        break;
      case 'welcome':
        this.update({
          session: ev.message.session,
          everConnected: true,
          ended: false,
          hubProtocol: typeof ev.message.protocol === 'number' ? ev.message.protocol : null,
          recording: ev.message.recording === true,
        });
        break;
      case 'result': {
        const f = ev.frame;
        this.stats.addResult(f ? ev.receivedAt - f.sentAt : null, ev.receivedAt);
        // A watched session that resumed streams again.
        this.update({ lastResult: ev.message, lastError: null, ended: false, stats: this.stats.snapshot() });
        break;
      }
      case 'error':
        if (ev.message.seq) this.stats.addError();
        this.update({ lastError: ev.message, stats: this.stats.snapshot() });
        break;
      case 'dropped':
        this.stats.addDropped();
        this.update({ stats: this.stats.snapshot() });
        break;
      case 'ended':
        this.update({ ended: true });
        break;
      case 'sent':
        // Counted, not published: the next answer or the stats tick shows it.
        this.stats.addSent(ev.frame.sentAt);
        break;
      case 'pong':
        break;
    }
  }

  private publishStats(): void {
    this.update({ stats: this.stats.snapshot() });
  }

  private update(change: Partial<HubSnapshot>): void {
    this.snapshot = { ...this.snapshot, ...change };
    for (const l of [...this.listeners]) l();
  }
}
