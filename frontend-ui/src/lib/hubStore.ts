// The hub connection as an external store for React's useSyncExternalStore:
// it folds the client's events into one immutable snapshot per change, and
// keeps the rolling stats of the stream, and the models: those served, the
// session's, the one that answered last, and the one this tab chose.

import type { ConnectionState, HubClient, HubEvent } from './hubClient';
import {
  ErrorCode,
  MODEL_REF_PATTERN,
  modelRef,
  type ErrorMessage,
  type ModelSummary,
  type ResultMessage,
} from './contract';
import {
  answeringModelOf,
  fetchModels,
  forgetModelChoice,
  isServed,
  loadModelChoice,
  refSatisfiedBy,
  saveModelChoice,
  type ModelStorage,
} from './models';
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
  /** The models served now: the welcome's, refreshed from GET /api/v1/models. */
  models: readonly ModelSummary[];
  /** The session's model, `name@version` (welcome, then each `model` acknowledgement); null when none is served. */
  model: string | null;
  /**
   * The model that answered the last result, `name@version`: after a switch
   * it changes with the first result of the new model, not with the acknowledgement.
   */
  answeringModel: string | null;
  /** The model this tab chose (`name` or `name@version`), kept for the tab; null: the hub's default. */
  chosenModel: string | null;
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
  models: [],
  model: null,
  answeringModel: null,
  chosenModel: null,
  stats: { fps: 0, sentFps: 0, latencyMedianMs: null, latencyP95Ms: null, results: 0, errors: 0, dropped: 0 },
};

/** Rates and latencies are over the last 5 s: long enough to be steady, short enough to follow a change. */
const STATS_WINDOW_MS = 5_000;
/** Republish the stats this often so the rate decays when results stop arriving. */
const STATS_TICK_MS = 1_000;

export interface HubStoreOptions {
  /** Where the tab's model choice is kept (default: sessionStorage; null: nowhere). */
  modelStorage?: ModelStorage | null;
  /** GET /api/v1/models (injectable for tests). */
  fetchModels?: () => Promise<ModelSummary[] | null>;
  /** A watcher follows the watched session's model and chooses none. */
  watching?: boolean;
}

export class HubStore {
  private snapshot: HubSnapshot;
  private readonly listeners = new Set<() => void>();
  private readonly stats = new LiveStats(STATS_WINDOW_MS);
  private tick: ReturnType<typeof setInterval> | null = null;
  private unsubscribeClient: (() => void) | null = null;
  private readonly modelStorage: ModelStorage | null | undefined;
  private readonly loadModels: () => Promise<ModelSummary[] | null>;
  private readonly watching: boolean;
  /** Bumped by every models update, so that a slow refresh does not overwrite a newer welcome. */
  private modelsGeneration = 0;

  constructor(
    readonly client: HubClient,
    options: HubStoreOptions = {},
  ) {
    this.modelStorage = 'modelStorage' in options ? options.modelStorage : undefined;
    this.loadModels = options.fetchModels ?? (() => fetchModels());
    this.watching = options.watching ?? false;
    const chosenModel = this.watching ? null : loadModelChoice(this.modelStorage);
    this.snapshot = chosenModel ? { ...INITIAL_HUB_SNAPSHOT, chosenModel } : INITIAL_HUB_SNAPSHOT;
  }

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

  /**
   * Classifies this tab's frames with `ref` from now on (`name` for its latest
   * version, or `name@version`), remembered for the tab. The session's model
   * changes with the hub's acknowledgement; the labels and the answering
   * model with the first result of the new model.
   */
  readonly setModel = (ref: string): void => {
    if (this.watching || !MODEL_REF_PATTERN.test(ref)) return;
    saveModelChoice(ref, this.modelStorage);
    this.update({ chosenModel: ref });
    this.client.setModel(ref);
  };

  /** Reads the models served now from GET /api/v1/models (the picker opening, a model error). */
  readonly refreshModels = async (): Promise<void> => {
    const generation = ++this.modelsGeneration;
    const models = await this.loadModels();
    if (models === null || generation !== this.modelsGeneration) return;
    this.update({ models });
  };

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
      case 'welcome': {
        const models = Array.isArray(ev.message.models) ? ev.message.models : [];
        const model = typeof ev.message.model === 'string' ? ev.message.model : null;
        this.modelsGeneration += 1;
        this.update({
          session: ev.message.session,
          everConnected: true,
          ended: false,
          hubProtocol: typeof ev.message.protocol === 'number' ? ev.message.protocol : null,
          recording: ev.message.recording === true,
          models,
          model,
          answeringModel: null,
        });
        // A new session (a reload, a reconnect) starts on the hub's default: ask for the tab's choice again.
        const chosen = this.snapshot.chosenModel;
        if (chosen && !this.watching && isServed(chosen, models) && !refSatisfiedBy(chosen, model, models)) {
          this.client.setModel(chosen);
        }
        break;
      }
      case 'model':
        this.update({ model: modelRef(ev.message.model, ev.message.version) });
        break;
      case 'result': {
        const f = ev.frame;
        this.stats.addResult(f ? ev.receivedAt - f.sentAt : null, ev.receivedAt);
        // A watched session that resumed streams again.
        this.update({
          lastResult: ev.message,
          lastError: null,
          ended: false,
          answeringModel: answeringModelOf(ev.message) ?? this.snapshot.answeringModel,
          stats: this.stats.snapshot(),
        });
        break;
      }
      case 'error':
        if (ev.message.seq) this.stats.addError();
        this.update({ lastError: ev.message, stats: this.stats.snapshot() });
        if (!ev.message.seq) this.modelRefused(ev.message.code);
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

  /**
   * After unknown_model, model_unavailable or model_forbidden the session
   * keeps its model: the picker shows that one again, and the list is read
   * afresh. A name no worker serves, or one the key does not allow, is
   * forgotten; one that is only down now is asked for again when the tab
   * loads the page next.
   */
  private modelRefused(code: string): void {
    if (code !== ErrorCode.unknownModel && code !== ErrorCode.modelUnavailable && code !== ErrorCode.modelForbidden) return;
    if (code !== ErrorCode.modelUnavailable) forgetModelChoice(this.modelStorage);
    this.update({ chosenModel: null });
    void this.refreshModels();
  }

  private publishStats(): void {
    this.update({ stats: this.stats.snapshot() });
  }

  private update(change: Partial<HubSnapshot>): void {
    this.snapshot = { ...this.snapshot, ...change };
    for (const l of [...this.listeners]) l();
  }
}
