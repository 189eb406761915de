// A framework-free client for the hub's WebSocket: connection, reconnection
// with exponential backoff and jitter, frame numbering and flow control.
// The React hook (useHubSocket) wraps it; unit tests drive it with a fake socket.

import {
  CLOSE_CODES_WITHOUT_RECONNECT,
  CloseCode,
  NO_ANSWER_CLOSE_CODE,
  ServerMessageType,
  encodeControl,
  hubSocketProtocols,
  optionsControl,
  parseServerMessage,
  pingControl,
  type ControlMessage,
  type DroppedMessage,
  type EndedMessage,
  type ErrorMessage,
  type ModelSetMessage,
  type PongMessage,
  type ResultMessage,
  type WelcomeMessage,
} from './contract';

export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed';

/** The part of the browser WebSocket the client uses (so tests can inject a double). */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code?: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  send(data: string | Blob | ArrayBuffer | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
}

export type SocketFactory = (url: string, protocols: string[]) => WebSocketLike;

const OPEN = 1;

export type HubEvent =
  | { type: 'state'; state: ConnectionState; attempt: number; retryInMs: number | null; closeCode?: number }
  | { type: 'welcome'; message: WelcomeMessage }
  | { type: 'result'; message: ResultMessage; frame: SentFrame | null; receivedAt: number }
  | { type: 'error'; message: ErrorMessage; frame: SentFrame | null }
  | { type: 'dropped'; message: DroppedMessage; frame: SentFrame | null }
  | { type: 'pong'; message: PongMessage }
  | { type: 'ended'; message: EndedMessage }
  /** The hub acknowledged a model switch: the session's model from now on. */
  | { type: 'model'; message: ModelSetMessage }
  /** A binary frame went out (it is now outstanding). */
  | { type: 'sent'; frame: SentFrame };

export type HubListener = (event: HubEvent) => void;

/** A frame sent and not yet answered. Times come from `now()` (ms). */
export interface SentFrame {
  seq: number;
  sentAt: number;
  /** When the frame was grabbed from the camera, if the caller said so. */
  capturedAt?: number;
}

export interface HubClientOptions {
  /** The WebSocket URL, or a function giving it at each (re)connect. */
  url: string | (() => string);
  /** At most this many frames outstanding (unanswered). Default 2. */
  maxInFlight?: number;
  /** First reconnect delay (before jitter). Default 500 ms. */
  minBackoffMs?: number;
  /** Largest reconnect delay. Default 10 s. */
  maxBackoffMs?: number;
  /** Send a ping this often and reconnect when nothing arrives for two periods; 0 disables. Default 15 s. */
  pingIntervalMs?: number;
  /** Forget an outstanding frame the hub never answered after this long. Default 15 s. */
  staleFrameMs?: number;
  /**
   * Close codes after which reconnecting cannot help, so the client stops
   * (state "closed"). Default: the codes the contract marks as not worth a
   * reconnect (1000, and 4004, the hub's "no live session with that id" for watchers).
   */
  terminalCloseCodes?: readonly number[];
  /**
   * Reconnects tried after a terminal close code when this client had been
   * welcomed before: a watched session that was live may come back (its tab
   * resuming after a hub restart). Default 5 (about 15 s of backoff).
   */
  terminalRetries?: number;
  createSocket?: SocketFactory;
  /** The API key or JWT to offer at each (re)connect, for a hub that requires one. Default: none. */
  apiKey?: () => string | null;
  now?: () => number;
  random?: () => number;
}

/**
 * Delay before reconnect attempt `attempt` (0-based): exponential from minMs,
 * capped at maxMs, with "equal jitter" (uniform in [base/2, base]) so that many
 * tabs do not all come back at the same instant after a hub restart.
 */
export function backoffDelay(attempt: number, minMs: number, maxMs: number, random: () => number): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return Math.round(base / 2 + (random() * base) / 2);
}

export class HubClient {
  private readonly opts: Required<Omit<HubClientOptions, 'url'>> & { url: string | (() => string) };
  private readonly listeners = new Set<HubListener>();
  private ws: WebSocketLike | null = null;
  private _state: ConnectionState = 'idle';
  private _session: string | null = null;
  private _lastSession: string | null = null;
  /** The secret that resumes _lastSession: in memory only, never in a URL or storage. */
  private resumeToken: string | null = null;
  private terminalRetriesLeft = 0;
  private _welcome: WelcomeMessage | null = null;
  private seq = 0;
  private readonly outstanding = new Map<number, SentFrame>();
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private lastMessageAt = 0;
  private pingId = 0;
  private stopped = true;

  constructor(options: HubClientOptions) {
    this.opts = {
      maxInFlight: 2,
      minBackoffMs: 500,
      maxBackoffMs: 10_000,
      pingIntervalMs: 15_000,
      staleFrameMs: 15_000,
      terminalCloseCodes: CLOSE_CODES_WITHOUT_RECONNECT,
      terminalRetries: 5,
      createSocket: (url, protocols) => new WebSocket(url, protocols) as unknown as WebSocketLike,
      apiKey: () => null,
      now: () => (typeof performance !== 'undefined' ? performance.now() : Date.now()),
      random: Math.random,
      ...options,
    };
  }

  get state(): ConnectionState {
    return this._state;
  }

  /** The session id from the hub's welcome on the current connection. */
  get session(): string | null {
    return this._session;
  }

  /**
   * The session id of the last welcome, kept across reconnects: the URL
   * function passes it as ?resume= so that a reconnecting tab keeps its id
   * (and its watchers).
   */
  get lastSession(): string | null {
    return this._lastSession;
  }

  get welcome(): WelcomeMessage | null {
    return this._welcome;
  }

  /** Number of binary frames sent on the current connection (the last seq used). */
  get sentOnConnection(): number {
    return this.seq;
  }

  get outstandingCount(): number {
    return this.outstanding.size;
  }

  /** The in-flight limit in force: ours, lowered to the hub's if it announced a smaller one. */
  get maxInFlight(): number {
    const hub = this._welcome?.framesInFlight;
    const mine = Math.max(1, this.opts.maxInFlight);
    return typeof hub === 'number' && hub > 0 ? Math.min(mine, hub) : mine;
  }

  subscribe(listener: HubListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Starts connecting (and keeps reconnecting until close()). */
  connect(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempt = 0;
    this.open();
  }

  /** Closes for good: no more reconnects. */
  close(): void {
    this.stopped = true;
    this.clearTimers();
    this.detachAndClose(CloseCode.normal.code, 'page closed');
    this.resetConnectionState();
    this.setState('closed', null);
  }

  /** Skips the wait of a pending reconnect. */
  reconnectNow(): void {
    if (this.stopped || this._state !== 'reconnecting') return;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.open();
  }

  /** True when a frame sent now would be accepted by flow control. */
  canSend(): boolean {
    if (this._state !== 'connected' || !this.ws || this.ws.readyState !== OPEN) return false;
    this.forgetStaleFrames();
    return this.outstanding.size < this.maxInFlight;
  }

  /**
   * Sends one encoded image as a binary message. Returns its seq (1-based
   * position among this connection's binary messages), or null when not
   * connected or when maxInFlight frames are already outstanding.
   */
  sendFrame(data: Blob | ArrayBuffer | ArrayBufferView, capturedAt?: number): number | null {
    if (!this.canSend() || !this.ws) return null;
    const seq = ++this.seq;
    const frame: SentFrame = { seq, sentAt: this.opts.now() };
    if (capturedAt !== undefined) frame.capturedAt = capturedAt;
    this.outstanding.set(seq, frame);
    try {
      this.ws.send(data);
    } catch {
      // The socket is closing; its close event resets everything.
      this.outstanding.delete(seq);
      return null;
    }
    this.emit({ type: 'sent', frame });
    return seq;
  }

  /** Sends a JSON control message (e.g. options); false when not connected. */
  sendControl(message: ControlMessage): boolean {
    if (!this.ws || this.ws.readyState !== OPEN) return false;
    try {
      this.ws.send(encodeControl(message));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Asks the hub to classify this session's frames with `ref` (`name` or
   * `name@version`) from now on; answered by a `model` event, or an error
   * (unknown_model, model_unavailable, model_forbidden) and the session keeps
   * its model.
   * False when not connected.
   */
  setModel(ref: string): boolean {
    return this.sendControl(optionsControl({ model: ref }));
  }

  // --- internals -----------------------------------------------------------

  private emit(event: HubEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(event);
      } catch (err) {
        console.error('hub listener failed', err);
      }
    }
  }

  private setState(state: ConnectionState, retryInMs: number | null, closeCode?: number): void {
    this._state = state;
    const ev: HubEvent = { type: 'state', state, attempt: this.attempt, retryInMs };
    if (closeCode !== undefined) ev.closeCode = closeCode;
    this.emit(ev);
  }

  private resetConnectionState(): void {
    this.seq = 0;
    this.outstanding.clear();
    this._session = null;
    this._welcome = null;
  }

  private open(): void {
    this.reconnectTimer = null;
    const url = typeof this.opts.url === 'function' ? this.opts.url() : this.opts.url;
    this.setState(this.attempt === 0 ? 'connecting' : 'reconnecting', null);
    let ws: WebSocketLike;
    try {
      // The resume token goes as a subprotocol (docs/protocol.md): the URL
      // carries only the session id, which is public anyway.
      ws = this.opts.createSocket(url, hubSocketProtocols(this.resumeToken, this.opts.apiKey()));
    } catch {
      this.scheduleReconnect();
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.resetConnectionState();
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.lastMessageAt = this.opts.now();
      this.setState('connected', null);
      this.startPing();
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      this.lastMessageAt = this.opts.now();
      if (typeof ev.data === 'string') this.handleText(ev.data);
    };
    ws.onerror = () => {
      // A close event always follows; reconnection happens there.
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.handleClosed(ev?.code);
    };
  }

  private handleClosed(code?: number): void {
    this.stopPing();
    this.resetConnectionState();
    if (code !== undefined && this.opts.terminalCloseCodes.includes(code)) {
      if (this.terminalRetriesLeft > 0) this.terminalRetriesLeft -= 1;
      else this.stopped = true;
    }
    if (this.stopped) {
      this.setState('closed', null, code);
      return;
    }
    this.scheduleReconnect(code);
  }

  private scheduleReconnect(code?: number): void {
    const delay = backoffDelay(this.attempt, this.opts.minBackoffMs, this.opts.maxBackoffMs, this.opts.random);
    this.attempt += 1;
    this.setState('reconnecting', delay, code);
    this.reconnectTimer = setTimeout(() => this.open(), delay);
  }

  private handleText(text: string): void {
    const msg = parseServerMessage(text);
    if (!msg) return;
    switch (msg.type) {
      case ServerMessageType.welcome:
        this._session = msg.session;
        this._lastSession = msg.session;
        this.resumeToken = msg.resumeToken ?? null; // a new one at every welcome; none for a watcher
        this.terminalRetriesLeft = this.opts.terminalRetries;
        this._welcome = msg;
        this.attempt = 0; // a working connection: the next outage starts from the shortest delay
        this.emit({ type: 'welcome', message: msg });
        break;
      case ServerMessageType.result:
        this.emit({ type: 'result', message: msg, frame: this.takeFrame(msg.seq), receivedAt: this.opts.now() });
        break;
      case ServerMessageType.error:
        this.emit({ type: 'error', message: msg, frame: msg.seq ? this.takeFrame(msg.seq) : null });
        break;
      case ServerMessageType.dropped:
        this.emit({ type: 'dropped', message: msg, frame: this.takeFrame(msg.seq) });
        break;
      case ServerMessageType.pong:
        this.emit({ type: 'pong', message: msg });
        break;
      case ServerMessageType.ended:
        this.emit({ type: 'ended', message: msg });
        break;
      case ServerMessageType.model:
        this.emit({ type: 'model', message: msg });
        break;
    }
  }

  private takeFrame(seq: number): SentFrame | null {
    const f = this.outstanding.get(seq);
    if (!f) return null;
    this.outstanding.delete(seq);
    return f;
  }

  private forgetStaleFrames(): void {
    if (this.outstanding.size === 0) return;
    const limit = this.opts.now() - this.opts.staleFrameMs;
    for (const [seq, f] of this.outstanding) {
      if (f.sentAt < limit) this.outstanding.delete(seq);
    }
  }

  private startPing(): void {
    this.stopPing();
    const every = this.opts.pingIntervalMs;
    if (every <= 0) return;
    this.pingTimer = setInterval(() => {
      const ws = this.ws;
      if (!ws) return;
      if (this.opts.now() - this.lastMessageAt > 2 * every) {
        // Nothing heard for two periods: the connection is dead even if TCP has not noticed.
        this.detachAndClose(NO_ANSWER_CLOSE_CODE, 'no answer');
        this.handleClosed();
        return;
      }
      this.sendControl(pingControl(++this.pingId));
    }, every);
  }

  private stopPing(): void {
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    this.pingTimer = null;
  }

  private clearTimers(): void {
    this.stopPing();
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  private detachAndClose(code: number, reason: string): void {
    const ws = this.ws;
    this.ws = null;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onerror = null;
    ws.onclose = null;
    try {
      ws.close(code, reason);
    } catch {
      /* already closed */
    }
  }
}
