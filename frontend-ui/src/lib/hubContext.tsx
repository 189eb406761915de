// The hub store handed down the island by context, read through selectors:
// each component subscribes to the slice it shows, so a result or a stats
// tick re-renders the labels or the stats row, not the whole island.

import { createContext, useContext, useEffect, useRef, useSyncExternalStore, type ReactNode } from 'react';
import type { HubClient } from './hubClient';
import type { HubStatsProbe } from './hubStatsProbe';
import { INITIAL_HUB_SNAPSHOT, type HubSnapshot } from './hubStore';

/** One connection's store and actions; the same object for as long as that connection lives. */
export interface HubSource {
  subscribe: (listener: () => void) => () => void;
  getSnapshot: () => HubSnapshot;
  client: HubClient | null;
  reconnectNow: () => void;
  /** Sends a frame if flow control allows; returns its seq or null. */
  sendFrame: (data: Blob, capturedAt?: number) => number | null;
  resetRate: () => void;
  /** Classifies this tab's frames with a model (`name` or `name@version`) from now on; remembered for the tab. */
  setModel: (ref: string) => void;
  /** Reads the models served now afresh (GET /api/v1/models). */
  refreshModels: () => Promise<void>;
  /** The benchmark's probe; null unless the page URL asks for it (?probe=1). */
  probe: HubStatsProbe | null;
}

const subscribeNothing = () => () => undefined;
const nothing = () => undefined;
const noFrame = () => null;
const noRefresh = () => Promise.resolve();

/** A source with no connection behind it, showing `snapshot` (before the first connection, after the last). */
export function idleHubSource(snapshot: HubSnapshot = INITIAL_HUB_SNAPSHOT): HubSource {
  return {
    subscribe: subscribeNothing,
    getSnapshot: () => snapshot,
    client: null,
    reconnectNow: nothing,
    sendFrame: noFrame,
    resetRate: nothing,
    setModel: nothing,
    refreshModels: noRefresh,
    probe: null,
  };
}

const HubContext = createContext<HubSource>(idleHubSource());

/** Gives `hub` to the components below; stamps the probe's "labels shown" times when it is on. */
export function HubProvider({ hub, children }: { hub: HubSource; children: ReactNode }) {
  return (
    <HubContext.Provider value={hub}>
      {children}
      {hub.probe ? <ResultShownProbe probe={hub.probe} /> : null}
    </HubContext.Provider>
  );
}

/**
 * Its effect runs in the commit that puts a new result's labels on the page
 * (every subscriber's update from one store change commits together).
 */
function ResultShownProbe({ probe }: { probe: HubStatsProbe }) {
  const lastResult = useHubSelector(selectLastResult);
  useEffect(() => probe.shown(lastResult), [probe, lastResult]);
  return null;
}

const selectLastResult = (s: HubSnapshot) => s.lastResult;

/** The actions of the hub in context (stable while its connection lives). */
export function useHubActions(): Omit<HubSource, 'subscribe' | 'getSnapshot'> {
  return useContext(HubContext);
}

/**
 * The slice `selector` picks from the hub's snapshot. The component re-renders
 * only when the slice changes by `isEqual` (Object.is by default; pass
 * shallowEqual for a selector that builds an object).
 */
export function useHubSelector<T>(selector: (s: HubSnapshot) => T, isEqual: (a: T, b: T) => boolean = Object.is): T {
  const hub = useContext(HubContext);
  // The last selection, kept while equal so that React sees the same value.
  const last = useRef<{ snapshot: HubSnapshot; selector: (s: HubSnapshot) => T; selection: T } | null>(null);
  const select = (snapshot: HubSnapshot): T => {
    const prev = last.current;
    if (prev && prev.snapshot === snapshot && prev.selector === selector) return prev.selection;
    const next = selector(snapshot);
    const selection = prev && isEqual(prev.selection, next) ? prev.selection : next;
    last.current = { snapshot, selector, selection };
    return selection;
  };
  return useSyncExternalStore(
    hub.subscribe,
    () => select(hub.getSnapshot()),
    () => select(INITIAL_HUB_SNAPSHOT),
  );
}

/** Same keys with Object.is-equal values (for selectors that return a small object). */
export function shallowEqual<T>(a: T, b: T): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every(
    (k) => Object.hasOwn(b, k) && Object.is((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
  );
}
