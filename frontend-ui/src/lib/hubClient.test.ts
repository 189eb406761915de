import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeSocket } from '../../test/fakeSocket';
import { HubClient, backoffDelay, type HubClientOptions, type HubEvent } from './hubClient';
import { BEARER_PROTOCOL_PREFIX, CloseCode, RESUME_PROTOCOL_PREFIX, WS_SUBPROTOCOL } from './contract';

const frame = () => new Uint8Array([0xff, 0xd8, 0xff, 0xd9]);

function makeClient(opts: Partial<HubClientOptions> = {}) {
  const events: HubEvent[] = [];
  const client = new HubClient({
    url: 'ws://hub.test/ws',
    createSocket: (url, protocols) => new FakeSocket(url, protocols),
    now: () => Date.now(),
    random: () => 1, // no jitter unless a test asks for it
    pingIntervalMs: 0,
    ...opts,
  });
  client.subscribe((e) => events.push(e));
  return { client, events };
}

const states = (events: HubEvent[]) => events.flatMap((e) => (e.type === 'state' ? [e.state] : []));

beforeEach(() => {
  FakeSocket.reset();
  vi.useFakeTimers();
  vi.setSystemTime(1_000_000);
});
afterEach(() => {
  vi.useRealTimers();
});

describe('connection', () => {
  it('connects to the given URL, reports connecting then connected, and takes the session from welcome', () => {
    const { client, events } = makeClient();
    client.connect();
    const ws = FakeSocket.last();
    expect(ws.url).toBe('ws://hub.test/ws');
    expect(ws.binaryType).toBe('arraybuffer');
    expect(client.state).toBe('connecting');
    ws.accept('abc123');
    expect(client.state).toBe('connected');
    expect(client.session).toBe('abc123');
    expect(states(events)).toEqual(['connecting', 'connected']);
    expect(events.some((e) => e.type === 'welcome' && e.message.session === 'abc123')).toBe(true);
  });

  it('evaluates a URL function at every connect', () => {
    let n = 0;
    const { client } = makeClient({ url: () => `ws://hub.test/ws?n=${++n}` });
    client.connect();
    FakeSocket.last().serverClose();
    vi.advanceTimersByTime(10_000);
    expect(FakeSocket.instances.map((s) => s.url)).toEqual(['ws://hub.test/ws?n=1', 'ws://hub.test/ws?n=2']);
  });

  it('ignores malformed and unknown messages', () => {
    const { client, events } = makeClient();
    client.connect();
    const ws = FakeSocket.last();
    ws.accept();
    const before = events.length;
    ws.serverSend('not json');
    ws.serverSend({ type: 'mystery' });
    ws.serverSend({ type: 'result', seq: 1, predictions: 'nope' });
    ws.serverSend([1, 2]);
    expect(events.length).toBe(before);
    expect(client.state).toBe('connected');
  });
});

describe('seq counting', () => {
  it('numbers binary messages 1, 2, 3 … like the hub', () => {
    const { client } = makeClient({ maxInFlight: 10 });
    client.connect();
    const ws = FakeSocket.last();
    ws.accept();
    expect([client.sendFrame(frame()), client.sendFrame(frame()), client.sendFrame(frame())]).toEqual([1, 2, 3]);
    expect(ws.frames.length).toBe(3);
    expect(client.sentOnConnection).toBe(3);
  });

  it('does not count text (control) messages', () => {
    const { client } = makeClient({ maxInFlight: 10 });
    client.connect();
    const ws = FakeSocket.last();
    ws.accept();
    expect(client.sendFrame(frame())).toBe(1);
    expect(client.sendControl({ type: 'options', topK: 3 })).toBe(true);
    expect(client.sendFrame(frame())).toBe(2);
  });

  it('restarts at 1 on a new connection', () => {
    const { client } = makeClient();
    client.connect();
    const ws1 = FakeSocket.last();
    ws1.accept('s1');
    expect(client.sendFrame(frame())).toBe(1);
    expect(client.sendFrame(frame())).toBe(2);
    ws1.serverClose();
    expect(client.sentOnConnection).toBe(0);
    vi.advanceTimersByTime(500);
    const ws2 = FakeSocket.last();
    expect(ws2).not.toBe(ws1);
    ws2.accept('s2');
    expect(client.session).toBe('s2');
    expect(client.sendFrame(frame())).toBe(1);
    expect(ws2.frames.length).toBe(1);
  });

  it('refuses frames while not connected', () => {
    const { client } = makeClient();
    expect(client.sendFrame(frame())).toBeNull();
    client.connect();
    expect(client.sendFrame(frame())).toBeNull(); // still connecting
    FakeSocket.last().accept();
    expect(client.sendFrame(frame())).toBe(1);
  });
});

describe('flow control', () => {
  function connected(max = 2) {
    const c = makeClient({ maxInFlight: max });
    c.client.connect();
    const ws = FakeSocket.last();
    ws.accept();
    return { ...c, ws };
  }

  it('keeps at most N frames outstanding', () => {
    const { client, ws } = connected(2);
    expect(client.sendFrame(frame())).toBe(1);
    expect(client.sendFrame(frame())).toBe(2);
    expect(client.canSend()).toBe(false);
    expect(client.sendFrame(frame())).toBeNull();
    expect(ws.frames.length).toBe(2);
    expect(client.outstandingCount).toBe(2);
  });

  it('a result frees a slot and carries the send time of its frame', () => {
    const { client, ws, events } = connected(2);
    client.sendFrame(frame(), 999_990);
    vi.advanceTimersByTime(40);
    client.sendFrame(frame());
    vi.advanceTimersByTime(25);
    ws.serverResult(1);
    const ev = events.find((e) => e.type === 'result');
    expect(ev?.type).toBe('result');
    if (ev?.type !== 'result') return;
    expect(ev.frame).toEqual({ seq: 1, sentAt: 1_000_000, capturedAt: 999_990 });
    expect(ev.receivedAt - (ev.frame?.sentAt ?? 0)).toBe(65);
    expect(ev.message.predictions[0]?.label).toBe('Egyptian cat');
    expect(client.outstandingCount).toBe(1);
    expect(client.sendFrame(frame())).toBe(3);
    expect(client.sendFrame(frame())).toBeNull();
  });

  it('an error with the frame seq frees a slot', () => {
    const { client, ws, events } = connected(2);
    client.sendFrame(frame());
    client.sendFrame(frame());
    ws.serverSend({ type: 'error', seq: 2, code: 'unavailable', message: 'no worker' });
    expect(client.outstandingCount).toBe(1);
    const ev = events.find((e) => e.type === 'error');
    expect(ev?.type === 'error' && ev.message.code).toBe('unavailable');
    expect(ev?.type === 'error' && ev.frame?.seq).toBe(2);
    expect(client.sendFrame(frame())).toBe(3);
  });

  it('a dropped message frees a slot', () => {
    const { client, ws, events } = connected(2);
    client.sendFrame(frame());
    client.sendFrame(frame());
    ws.serverSend({ type: 'dropped', seq: 1, reason: 'superseded' });
    expect(client.outstandingCount).toBe(1);
    expect(events.some((e) => e.type === 'dropped' && e.message.seq === 1 && e.frame?.seq === 1)).toBe(true);
    expect(client.canSend()).toBe(true);
  });

  it('an error without a seq (about a control message) frees nothing', () => {
    const { client, ws, events } = connected(2);
    client.sendFrame(frame());
    client.sendFrame(frame());
    ws.serverSend({ type: 'error', code: 'bad_request', message: 'the message could not be understood' });
    expect(client.outstandingCount).toBe(2);
    const ev = events.find((e) => e.type === 'error');
    expect(ev?.type === 'error' && ev.frame).toBeNull();
  });

  it('answers for unknown seqs (already answered, or another connection) change nothing', () => {
    const { client, ws, events } = connected(2);
    client.sendFrame(frame());
    ws.serverResult(1);
    ws.serverResult(1);
    ws.serverResult(42);
    expect(client.outstandingCount).toBe(0);
    const results = events.filter((e) => e.type === 'result');
    expect(results.map((e) => (e.type === 'result' ? e.frame?.seq ?? null : 'x'))).toEqual([1, null, null]);
  });

  it('forgets outstanding frames on reconnect', () => {
    const { client, ws } = connected(2);
    client.sendFrame(frame());
    client.sendFrame(frame());
    ws.serverClose();
    expect(client.outstandingCount).toBe(0);
    vi.advanceTimersByTime(500);
    FakeSocket.last().accept('s2');
    expect(client.canSend()).toBe(true);
    expect(client.sendFrame(frame())).toBe(1);
    expect(client.sendFrame(frame())).toBe(2);
  });

  it('forgets a frame the hub never answers after staleFrameMs', () => {
    const c = makeClient({ maxInFlight: 1, staleFrameMs: 5_000 });
    c.client.connect();
    FakeSocket.last().accept();
    expect(c.client.sendFrame(frame())).toBe(1);
    vi.advanceTimersByTime(4_999);
    expect(c.client.canSend()).toBe(false);
    vi.advanceTimersByTime(2);
    expect(c.client.canSend()).toBe(true);
  });

  it('lowers the limit to the hub’s framesInFlight when smaller', () => {
    const c = makeClient({ maxInFlight: 3 });
    c.client.connect();
    FakeSocket.last().accept('s', { framesInFlight: 1 });
    expect(c.client.maxInFlight).toBe(1);
    expect(c.client.sendFrame(frame())).toBe(1);
    expect(c.client.sendFrame(frame())).toBeNull();
  });
});

describe('reconnect', () => {
  it('backoffDelay doubles from min to max with jitter in [base/2, base]', () => {
    const full = [0, 1, 2, 3, 4, 5, 6, 10].map((a) => backoffDelay(a, 500, 10_000, () => 1));
    expect(full).toEqual([500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
    const half = [0, 1, 5].map((a) => backoffDelay(a, 500, 10_000, () => 0));
    expect(half).toEqual([250, 500, 5000]);
    for (let i = 0; i < 50; i++) {
      const d = backoffDelay(3, 500, 10_000, Math.random);
      expect(d).toBeGreaterThanOrEqual(2000);
      expect(d).toBeLessThanOrEqual(4000);
    }
  });

  it('reconnects with growing delays while the hub is down, and resets after a welcome', () => {
    const { client, events } = makeClient();
    client.connect();
    FakeSocket.last().accept();
    FakeSocket.last().serverClose();
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      const ev = [...events].reverse().find((e) => e.type === 'state' && e.retryInMs !== null);
      const delay = ev?.type === 'state' ? ev.retryInMs ?? 0 : 0;
      delays.push(delay);
      const count = FakeSocket.instances.length;
      vi.advanceTimersByTime(delay - 1);
      expect(FakeSocket.instances.length).toBe(count); // not before its time
      vi.advanceTimersByTime(1);
      expect(FakeSocket.instances.length).toBe(count + 1);
      expect(client.state).toBe('reconnecting');
      FakeSocket.last().serverClose(); // refused again
    }
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 10_000, 10_000]);

    // The hub comes back: connected, and the next outage starts from 0.5 s again.
    vi.advanceTimersByTime(10_000);
    FakeSocket.last().accept('again');
    expect(client.state).toBe('connected');
    FakeSocket.last().serverClose();
    const ev = events[events.length - 1];
    expect(ev?.type === 'state' && ev.retryInMs).toBe(500);
  });

  it('applies jitter from the random source', () => {
    const { client, events } = makeClient({ random: () => 0.5 });
    client.connect();
    FakeSocket.last().serverClose();
    const ev = events[events.length - 1];
    expect(ev?.type === 'state' && ev.state).toBe('reconnecting');
    expect(ev?.type === 'state' && ev.retryInMs).toBe(375);
  });

  it('reconnects when creating the socket throws', () => {
    let fail = true;
    const { client } = makeClient({
      createSocket: (url) => {
        if (fail) throw new Error('boom');
        return new FakeSocket(url);
      },
    });
    client.connect();
    expect(client.state).toBe('reconnecting');
    fail = false;
    vi.advanceTimersByTime(500);
    FakeSocket.last().accept();
    expect(client.state).toBe('connected');
  });

  it('reconnectNow skips the wait', () => {
    const { client } = makeClient();
    client.connect();
    FakeSocket.last().serverClose();
    expect(FakeSocket.instances.length).toBe(1);
    client.reconnectNow();
    expect(FakeSocket.instances.length).toBe(2);
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.instances.length).toBe(2); // the pending timer was cancelled
  });

  it('close() stops for good and closes the socket', () => {
    const { client } = makeClient();
    client.connect();
    const ws = FakeSocket.last();
    ws.accept();
    client.close();
    expect(client.state).toBe('closed');
    expect(ws.closedWith?.code).toBe(1000);
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.instances.length).toBe(1);
  });

  it('events of an old socket are ignored', () => {
    const { client, events } = makeClient();
    client.connect();
    const ws1 = FakeSocket.last();
    ws1.accept('s1');
    ws1.serverClose();
    vi.advanceTimersByTime(500);
    const ws2 = FakeSocket.last();
    ws2.accept('s2');
    const n = events.length;
    ws1.serverResult(1);
    ws1.serverClose();
    expect(events.length).toBe(n);
    expect(client.state).toBe('connected');
  });
});

describe('ping', () => {
  it('pings periodically and reconnects when the hub goes silent', () => {
    const { client } = makeClient({ pingIntervalMs: 1_000 });
    client.connect();
    const ws = FakeSocket.last();
    ws.accept();
    vi.advanceTimersByTime(1_000);
    expect(ws.controls).toEqual([{ type: 'ping', id: 1 }]);
    ws.serverSend({ type: 'pong', id: 1, time: 1 });
    vi.advanceTimersByTime(1_000);
    expect(ws.controls.length).toBe(2);
    expect(client.state).toBe('connected');
    // Silence for more than two periods.
    vi.advanceTimersByTime(2_000);
    expect(client.state).toBe('reconnecting');
    expect(ws.closedWith).not.toBeNull();
  });
});

describe('terminal close codes and ended', () => {
  it('stops after close code 4004 (unknown watched session) instead of retrying', () => {
    const { client, events } = makeClient({ url: 'ws://hub.test/ws?watch=nope' });
    client.connect();
    const ws = FakeSocket.last();
    ws.serverOpen();
    ws.serverSend({ type: 'error', code: 'unknown_session', message: 'there is no live session with that id' });
    ws.serverClose(4004);
    expect(client.state).toBe('closed');
    const last = events[events.length - 1];
    expect(last?.type === 'state' && last.closeCode).toBe(4004);
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.instances.length).toBe(1);
    expect(events.some((e) => e.type === 'error' && e.message.code === 'unknown_session' && e.frame === null)).toBe(true);
  });

  it('retries a few times after 4004 when the watched session had been live, then stops', () => {
    const { client } = makeClient({ url: 'ws://hub.test/ws?watch=abc', terminalRetries: 2 });
    client.connect();
    FakeSocket.last().accept('w1', { watching: 'abc' });
    // The hub restarts; the streaming tab has not resumed yet.
    for (let i = 0; i < 2; i++) {
      FakeSocket.last().serverClose(4004);
      expect(client.state).toBe('reconnecting');
      vi.advanceTimersByTime(60_000);
    }
    FakeSocket.last().serverClose(4004);
    expect(client.state).toBe('closed');
    const sockets = FakeSocket.instances.length;
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.instances.length).toBe(sockets);
  });

  it('remembers the last session across reconnects for ?resume=', () => {
    let built = 0;
    const { client } = makeClient({ url: () => `ws://hub.test/ws?n=${built++}` });
    expect(client.lastSession).toBeNull();
    client.connect();
    FakeSocket.last().accept('first-session');
    FakeSocket.last().serverClose(1006);
    expect(client.session).toBeNull();
    expect(client.lastSession).toBe('first-session');
    vi.advanceTimersByTime(60_000);
    FakeSocket.last().accept('first-session');
    expect(client.session).toBe('first-session');
  });

  it('resumes with the welcome’s token as a subprotocol, never in the URL', () => {
    const { client } = makeClient({ url: () => `ws://hub.test/ws?resume=${client.lastSession ?? ''}` });
    client.connect();
    expect(FakeSocket.last().protocols).toEqual([WS_SUBPROTOCOL]);
    FakeSocket.last().accept('s1', { resumeToken: 'secret-token-1' });
    FakeSocket.last().serverClose(1006);
    vi.advanceTimersByTime(60_000);
    const again = FakeSocket.last();
    expect(again.protocols).toEqual([WS_SUBPROTOCOL, RESUME_PROTOCOL_PREFIX + 'secret-token-1']);
    expect(again.url).not.toContain('secret-token-1');
    // Every welcome brings a new token; a welcome without one (a refused resume) drops the old.
    again.accept('s2');
    again.serverClose(1006);
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.last().protocols).toEqual([WS_SUBPROTOCOL]);
  });

  it('offers the API key as a subprotocol, and stops for good when the hub refuses it (4401)', () => {
    let key: string | null = 'whk_first';
    const { client, events } = makeClient({ apiKey: () => key });
    client.connect();
    expect(FakeSocket.last().protocols).toEqual([WS_SUBPROTOCOL, BEARER_PROTOCOL_PREFIX + 'whk_first']);
    expect(FakeSocket.last().url).not.toContain('whk_first');
    FakeSocket.last().serverClose(CloseCode.unauthorized.code);
    expect(events.at(-1)).toMatchObject({ type: 'state', state: 'closed', closeCode: CloseCode.unauthorized.code });
    const sockets = FakeSocket.instances.length;
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.instances.length).toBe(sockets); // no reconnect with a refused key
    key = null;
    const { client: other } = makeClient({ apiKey: () => key });
    other.connect();
    expect(FakeSocket.last().protocols).toEqual([WS_SUBPROTOCOL]);
  });

  it('passes on the hub’s "ended" message for watchers', () => {
    const { client, events } = makeClient();
    client.connect();
    FakeSocket.last().accept('w1', { watching: 'abc' });
    FakeSocket.last().serverSend({ type: 'ended', session: 'abc' });
    expect(events.some((e) => e.type === 'ended' && e.message.session === 'abc')).toBe(true);
  });
});
