// The one hook that owns the hub WebSocket: it makes a HubClient and its
// store while enabled, and reads the store with useSyncExternalStore.

import { useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { HubClient, type HubClientOptions } from './hubClient';
import { exposeHubStats, type HubStatsProbe } from './hubStatsProbe';
import { HubStore, INITIAL_HUB_SNAPSHOT, type HubSnapshot } from './hubStore';
import { hubSocketUrl } from './protocol';

export interface UseHubSocketOptions {
  /** Connect at all (false during server rendering and before the mode is known). */
  enabled: boolean;
  /** Watch another session instead of streaming. */
  watch?: string | null;
  maxInFlight?: number;
  /** Inject the client options in tests. */
  clientOptions?: Partial<HubClientOptions>;
}

export interface HubSocket extends HubSnapshot {
  client: HubClient | null;
  reconnectNow: () => void;
  /** Sends a frame if flow control allows; returns its seq or null. */
  sendFrame: (data: Blob, capturedAt?: number) => number | null;
  resetRate: () => void;
}

interface Connection {
  store: HubStore;
  probe: HubStatsProbe;
}

const subscribeNothing = () => () => undefined;
const serverSnapshot = () => INITIAL_HUB_SNAPSHOT;
const noFrame = () => null;
const nothing = () => undefined;

export function useHubSocket({ enabled, watch = null, maxInFlight = 2, clientOptions }: UseHubSocketOptions): HubSocket {
  const [connection, setConnection] = useState<Connection | null>(null);
  // What the page shows once a store is gone (its last snapshot, "closed").
  const [afterClose, setAfterClose] = useState<HubSnapshot>(INITIAL_HUB_SNAPSHOT);
  const clientOptionsRef = useRef(clientOptions);

  useEffect(() => {
    if (!enabled) return;
    // A streaming tab asks to keep its session id when it reconnects, so
    // the tabs watching it keep following it.
    const client: HubClient = new HubClient({
      url: () => hubSocketUrl(window.location, watch, client.lastSession),
      maxInFlight,
      ...clientOptionsRef.current,
    });
    const store = new HubStore(client);
    const probe = exposeHubStats(store, watch ? 'watch' : 'live');
    setConnection({ store, probe });
    store.start();
    return () => {
      store.stop();
      probe.dispose();
      setAfterClose(store.getSnapshot());
      setConnection(null);
    };
  }, [enabled, watch, maxInFlight]);

  const store = connection?.store ?? null;
  const snapshot = useSyncExternalStore(
    store ? store.subscribe : subscribeNothing,
    store ? store.getSnapshot : () => afterClose,
    serverSnapshot,
  );

  // The time a result's labels are on the page, for the benchmark.
  const probe = connection?.probe ?? null;
  useEffect(() => probe?.shown(snapshot.lastResult), [probe, snapshot.lastResult]);

  return {
    ...snapshot,
    client: store?.client ?? null,
    reconnectNow: store?.reconnectNow ?? nothing,
    sendFrame: store?.sendFrame ?? noFrame,
    resetRate: store?.resetRate ?? nothing,
  };
}
