import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeSocket, tinyJpeg } from '../../test/fakeSocket';
import { HubClient } from './hubClient';
import { HubStore, INITIAL_HUB_SNAPSHOT } from './hubStore';
import { CloseCode, ErrorCode, PROTOCOL_VERSION } from './contract';


function makeStore() {
  const client = new HubClient({
    url: 'ws://hub.test/ws',
    createSocket: (url, protocols) => new FakeSocket(url, protocols),
    pingIntervalMs: 0,
    random: () => 1,
  });
  return new HubStore(client);
}

beforeEach(() => {
  FakeSocket.reset();
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('HubStore', () => {
  it('keeps one snapshot object until something changes, and tells subscribers', () => {
    const store = makeStore();
    expect(store.getSnapshot()).toBe(INITIAL_HUB_SNAPSHOT);
    const changes = vi.fn();
    const unsubscribe = store.subscribe(changes);
    store.start();
    const ws = FakeSocket.last();
    ws.accept('sess-1');
    const connected = store.getSnapshot();
    expect(connected).toMatchObject({ connection: 'connected', session: 'sess-1', everConnected: true });
    expect(store.getSnapshot()).toBe(connected);
    const seen = changes.mock.calls.length;
    expect(seen).toBeGreaterThan(0);

    expect(store.sendFrame(tinyJpeg())).toBe(1);
    expect(store.getSnapshot()).toBe(connected); // sending changes nothing the page shows
    ws.serverResult(1, 'tabby');
    expect(store.getSnapshot()).not.toBe(connected);
    expect(store.getSnapshot().lastResult?.predictions[0]?.label).toBe('tabby');
    expect(store.getSnapshot().stats.results).toBe(1);
    expect(changes.mock.calls.length).toBeGreaterThan(seen);

    unsubscribe();
    const n = changes.mock.calls.length;
    ws.serverSend({ type: 'error', code: ErrorCode.unavailable, message: 'm' });
    expect(store.getSnapshot().lastError?.code).toBe(ErrorCode.unavailable);
    expect(changes.mock.calls.length).toBe(n);
    store.stop();
  });

  it('republishes the stats every second so the rate decays', () => {
    const store = makeStore();
    store.start();
    FakeSocket.last().accept();
    const before = store.getSnapshot();
    vi.advanceTimersByTime(1_000);
    expect(store.getSnapshot()).not.toBe(before);
    expect(store.getSnapshot().stats).not.toBe(before.stats);
    store.stop();
  });

  it('stops on a close code the contract says not to reconnect after, and says which', () => {
    const store = makeStore();
    store.start();
    FakeSocket.last().serverClose(CloseCode.unknown_session.code);
    expect(store.getSnapshot()).toMatchObject({ connection: 'closed', closeCode: CloseCode.unknown_session.code });
    store.stop();
  });

  it('stop() closes the socket for good', () => {
    const store = makeStore();
    store.start();
    const ws = FakeSocket.last();
    ws.accept();
    store.stop();
    expect(ws.closedWith?.code).toBe(CloseCode.normal.code);
    expect(store.getSnapshot().connection).toBe('closed');
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.instances.length).toBe(1);
  });

  it('keeps the hub’s protocol from its welcome (null when it sends none)', () => {
    const store = makeStore();
    store.start();
    expect(store.getSnapshot().hubProtocol).toBeNull();
    FakeSocket.last().accept('s', { protocol: PROTOCOL_VERSION + 1 });
    expect(store.getSnapshot().hubProtocol).toBe(PROTOCOL_VERSION + 1);
    store.stop();
    const old = makeStore();
    old.start();
    FakeSocket.last().accept('s', { protocol: undefined });
    expect(old.getSnapshot().hubProtocol).toBeNull();
    old.stop();
  });

  it('says whether the hub records this connection, from its welcome', () => {
    const store = makeStore();
    store.start();
    expect(store.getSnapshot().recording).toBe(false);
    FakeSocket.last().accept('s', { recording: true });
    expect(store.getSnapshot().recording).toBe(true);
    store.stop(); // not connected: nothing of this page is being recorded
    expect(store.getSnapshot().recording).toBe(false);
    const off = makeStore();
    off.start();
    FakeSocket.last().accept('s', { recording: false });
    expect(off.getSnapshot().recording).toBe(false);
    off.stop();
  });

  it('counts the frames sent into the send rate', () => {
    const store = makeStore();
    store.start();
    FakeSocket.last().accept();
    expect(store.sendFrame(tinyJpeg())).toBe(1);
    expect(store.sendFrame(tinyJpeg())).toBe(2);
    vi.advanceTimersByTime(1_000);
    expect(store.getSnapshot().stats.sentFps).toBeGreaterThan(0);
    store.stop();
  });
});
