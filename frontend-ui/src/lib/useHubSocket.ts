// The one hook that owns the hub WebSocket: it makes a HubClient and its
// store while enabled, and returns them as a HubSource for <HubProvider>
// (components read the store through useHubSelector, each its own slice).

import { useEffect, useMemo, useRef, useState } from 'react';
import { HubClient, type HubClientOptions } from './hubClient';
import { idleHubSource, type HubSource } from './hubContext';
import { exposeHubStats, statsProbeRequested, type HubStatsProbe } from './hubStatsProbe';
import { HubStore, INITIAL_HUB_SNAPSHOT, type HubSnapshot } from './hubStore';
import { loadApiKey } from './apiKey';
import { hubSocketUrl } from './contract';

export interface UseHubSocketOptions {
  /** Connect at all (false during server rendering and before the mode is known). */
  enabled: boolean;
  /** Watch another session instead of streaming. */
  watch?: string | null;
  maxInFlight?: number;
  /** Changed to connect again from scratch (a new API key was entered). */
  credentialVersion?: number;
  /** Inject the client options in tests. */
  clientOptions?: Partial<HubClientOptions>;
}

interface Connection {
  store: HubStore;
  probe: HubStatsProbe | null;
}

export function useHubSocket({
  enabled,
  watch = null,
  maxInFlight = 2,
  credentialVersion = 0,
  clientOptions,
}: UseHubSocketOptions): HubSource {
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
      // A watcher needs no key: its link is its permission.
      apiKey: () => (watch ? null : loadApiKey()),
      ...clientOptionsRef.current,
    });
    const store = new HubStore(client, { watching: watch !== null });
    // Only for the benchmark and the browser tests, which ask for it in the page URL.
    const probe = statsProbeRequested(window.location.search) ? exposeHubStats(store, watch ? 'watch' : 'live') : null;
    setConnection({ store, probe });
    store.start();
    return () => {
      store.stop();
      probe?.dispose();
      setAfterClose(store.getSnapshot());
      setConnection(null);
    };
  }, [enabled, watch, maxInFlight, credentialVersion]);

  return useMemo(() => {
    if (!connection) return idleHubSource(afterClose);
    const { store, probe } = connection;
    return {
      subscribe: store.subscribe,
      getSnapshot: store.getSnapshot,
      client: store.client,
      reconnectNow: store.reconnectNow,
      sendFrame: store.sendFrame,
      resetRate: store.resetRate,
      setModel: store.setModel,
      refreshModels: store.refreshModels,
      probe,
    };
  }, [connection, afterClose]);
}
