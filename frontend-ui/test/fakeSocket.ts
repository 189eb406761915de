// A test double for the browser WebSocket, injected into HubClient.
import type { WebSocketLike } from '../src/lib/hubClient';
import { PROTOCOL_VERSION, ServerMessageType } from '../src/lib/contract';

export class FakeSocket implements WebSocketLike {
  static instances: FakeSocket[] = [];
  binaryType = 'blob';
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: { code?: number; reason?: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  readonly sent: (string | Blob | ArrayBuffer | ArrayBufferView)[] = [];
  closedWith: { code?: number; reason?: string } | null = null;

  constructor(
    readonly url: string,
    readonly protocols: string[] = [],
  ) {
    FakeSocket.instances.push(this);
  }

  static reset(): void {
    FakeSocket.instances = [];
  }

  static last(): FakeSocket {
    const s = FakeSocket.instances[FakeSocket.instances.length - 1];
    if (!s) throw new Error('no socket was created');
    return s;
  }

  /** Binary messages sent (frames). */
  get frames(): (Blob | ArrayBuffer | ArrayBufferView)[] {
    return this.sent.filter((m): m is Blob | ArrayBuffer | ArrayBufferView => typeof m !== 'string');
  }

  /** Text messages sent, parsed. */
  get controls(): Record<string, unknown>[] {
    return this.sent.filter((m): m is string => typeof m === 'string').map((m) => JSON.parse(m) as Record<string, unknown>);
  }

  send(data: string | Blob | ArrayBuffer | ArrayBufferView): void {
    if (this.readyState !== 1) throw new Error('InvalidStateError: not open');
    this.sent.push(data);
  }

  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    this.readyState = 3;
  }

  // --- driven by the test -------------------------------------------------

  serverOpen(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  serverWelcome(session = 'sess-1', extra: Record<string, unknown> = {}): void {
    this.serverSend({ type: ServerMessageType.welcome, session, protocol: PROTOCOL_VERSION, ...extra });
  }

  /** Opens and says welcome, as the hub does. */
  accept(session = 'sess-1', extra: Record<string, unknown> = {}): void {
    this.serverOpen();
    this.serverWelcome(session, extra);
  }

  serverSend(msg: unknown): void {
    this.onmessage?.({ data: typeof msg === 'string' ? msg : JSON.stringify(msg) });
  }

  serverResult(seq: number, label = 'Egyptian cat', confidence = 0.8): void {
    this.serverSend({
      type: ServerMessageType.result,
      seq,
      session: 'sess-1',
      model: 'mobilenet_v2',
      predictions: [
        { label, index: 285, confidence },
        { label: 'tabby, tabby cat', index: 281, confidence: 0.1 },
        { label: 'tiger cat', index: 282, confidence: 0.05 },
      ],
    });
  }

  serverClose(code = 1006): void {
    this.readyState = 3;
    this.onclose?.({ code, reason: '' });
  }
}

/** Hub client options for tests: sockets are FakeSockets, no ping timer, no reconnect jitter. */
export const fakeClientOptions = {
  createSocket: (url: string) => new FakeSocket(url),
  pingIntervalMs: 0,
  random: () => 1,
};

/** The smallest JPEG-typed blob (the hub's answers are faked: its pixels never matter). */
export const tinyJpeg = () => new Blob([new Uint8Array([0xff, 0xd8, 0xff, 0xd9])], { type: 'image/jpeg' });
