import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeSocket, tinyJpeg } from '../../test/fakeSocket';
import { HubClient } from './hubClient';
import { HubStore, INITIAL_HUB_SNAPSHOT } from './hubStore';
import { CloseCode, ErrorCode, PROTOCOL_VERSION } from './contract';
import { MODEL_STORAGE_KEY } from './models';
import { memoryStorage } from '../../test/memoryStorage';
import { insects, mobilenet } from '../../test/modelFixtures';


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

describe('HubStore models', () => {
  function modelStore(storage = memoryStorage(), fetchModels = vi.fn(async () => [mobilenet, insects])) {
    const client = new HubClient({
      url: 'ws://hub.test/ws',
      createSocket: (url, protocols) => new FakeSocket(url, protocols),
      pingIntervalMs: 0,
      random: () => 1,
    });
    return { store: new HubStore(client, { modelStorage: storage, fetchModels }), storage, fetchModels };
  }

  it('takes the served models and the session’s model from the welcome', () => {
    const { store } = modelStore();
    store.start();
    FakeSocket.last().accept('sess-1', { models: [mobilenet], model: 'mobilenet_v2@1' });
    expect(store.getSnapshot()).toMatchObject({ models: [mobilenet], model: 'mobilenet_v2@1', chosenModel: null });
    expect(FakeSocket.last().controls).toEqual([]); // nothing chosen: the hub's default stays
    store.stop();
  });

  it('setModel sends options{model}, remembers it for the tab, and the acknowledgement sets the session’s model', () => {
    const { store, storage } = modelStore();
    store.start();
    const ws = FakeSocket.last();
    ws.accept('sess-1', { models: [mobilenet, insects], model: 'mobilenet_v2@1' });
    store.setModel('insects');
    expect(ws.controls).toEqual([{ type: 'options', model: 'insects' }]);
    expect(storage.map.get(MODEL_STORAGE_KEY)).toBe('insects');
    expect(store.getSnapshot().chosenModel).toBe('insects');
    expect(store.getSnapshot().model).toBe('mobilenet_v2@1');
    ws.serverSend({ type: 'model', model: 'insects', version: 2, requested: 'insects' });
    expect(store.getSnapshot().model).toBe('insects@2');
    store.setModel('bad ref!');
    expect(ws.controls).toHaveLength(1);
    store.stop();
  });

  it('names the answering model from the results: the old one until the first result of the new one', () => {
    const { store } = modelStore();
    store.start();
    const ws = FakeSocket.last();
    ws.accept('sess-1', { models: [mobilenet, insects], model: 'mobilenet_v2@1' });
    const result = (seq: number, model: string, version: number, label: string) =>
      ws.serverSend({ type: 'result', seq, model, version, task: 'classification', predictions: [{ label, confidence: 0.9 }] });
    expect(store.sendFrame(tinyJpeg())).toBe(1);
    result(1, 'mobilenet_v2', 1, 'Egyptian cat');
    expect(store.getSnapshot().answeringModel).toBe('mobilenet_v2@1');
    store.setModel('insects');
    ws.serverSend({ type: 'model', model: 'insects', version: 2, requested: 'insects' });
    expect(store.sendFrame(tinyJpeg())).toBe(2);
    result(2, 'mobilenet_v2', 1, 'tabby, tabby cat'); // already at the old model's worker
    expect(store.getSnapshot()).toMatchObject({ model: 'insects@2', answeringModel: 'mobilenet_v2@1' });
    expect(store.sendFrame(tinyJpeg())).toBe(3);
    result(3, 'insects', 2, 'Halyomorpha halys (Brown Marmorated Stink Bug)');
    expect(store.getSnapshot().answeringModel).toBe('insects@2');
    store.stop();
  });

  it('asks for the tab’s remembered model again on a new session, when it is served', () => {
    const storage = memoryStorage();
    storage.setItem(MODEL_STORAGE_KEY, 'insects@1');
    const { store } = modelStore(storage);
    expect(store.getSnapshot().chosenModel).toBe('insects@1');
    store.start();
    const ws = FakeSocket.last();
    ws.accept('sess-1', { models: [mobilenet, insects], model: 'mobilenet_v2@1' });
    expect(ws.controls).toEqual([{ type: 'options', model: 'insects@1' }]);
    store.stop();

    // Already the session's model, or not served now: nothing sent.
    const again = modelStore(storage);
    again.store.start();
    FakeSocket.last().accept('sess-2', { models: [mobilenet, insects], model: 'insects@1' });
    expect(FakeSocket.last().controls).toEqual([]);
    again.store.stop();
    const gone = modelStore(storage);
    gone.store.start();
    FakeSocket.last().accept('sess-3', { models: [mobilenet], model: 'mobilenet_v2@1' });
    expect(FakeSocket.last().controls).toEqual([]);
    gone.store.stop();
  });

  it('after unknown_model, model_unavailable or model_forbidden shows the session’s model again and reads the list afresh', async () => {
    const { store, storage, fetchModels } = modelStore();
    store.start();
    const ws = FakeSocket.last();
    ws.accept('sess-1', { models: [mobilenet], model: 'mobilenet_v2@1' });
    store.setModel('insects');
    ws.serverSend({ type: 'error', code: ErrorCode.modelUnavailable, message: 'not now' });
    expect(store.getSnapshot()).toMatchObject({ chosenModel: null, model: 'mobilenet_v2@1' });
    expect(store.getSnapshot().lastError?.code).toBe(ErrorCode.modelUnavailable);
    expect(storage.map.get(MODEL_STORAGE_KEY)).toBe('insects'); // only down now: tried again next time
    expect(fetchModels).toHaveBeenCalledTimes(1);
    await vi.waitFor(() => expect(store.getSnapshot().models).toEqual([mobilenet, insects]));

    store.setModel('beetles');
    ws.serverSend({ type: 'error', code: ErrorCode.unknownModel, message: 'no such model' });
    expect(store.getSnapshot().chosenModel).toBeNull();
    expect(storage.map.has(MODEL_STORAGE_KEY)).toBe(false); // no worker serves that name: forgotten
    expect(fetchModels).toHaveBeenCalledTimes(2);

    store.setModel('insects');
    ws.serverSend({ type: 'error', code: ErrorCode.modelForbidden, message: 'not for this key' });
    expect(store.getSnapshot()).toMatchObject({ chosenModel: null, model: 'mobilenet_v2@1' });
    expect(storage.map.has(MODEL_STORAGE_KEY)).toBe(false); // the key does not allow it: forgotten
    expect(fetchModels).toHaveBeenCalledTimes(3);
    store.stop();
  });

  it('a watcher follows the watched session’s model and sends no choice', () => {
    const storage = memoryStorage();
    storage.setItem(MODEL_STORAGE_KEY, 'insects');
    const client = new HubClient({ url: 'ws://hub.test/ws', createSocket: (u, p) => new FakeSocket(u, p), pingIntervalMs: 0 });
    const store = new HubStore(client, { modelStorage: storage, watching: true, fetchModels: async () => null });
    store.start();
    const ws = FakeSocket.last();
    ws.accept('sess-9', { watching: 'sess-1', models: [mobilenet, insects], model: 'mobilenet_v2@1' });
    store.setModel('insects');
    expect(ws.controls).toEqual([]);
    expect(store.getSnapshot()).toMatchObject({ chosenModel: null, model: 'mobilenet_v2@1' });
    store.stop();
  });
});
