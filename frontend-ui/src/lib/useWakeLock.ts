// Keeps the screen on while `wanted` (the camera is streaming): a phone that
// dims and locks after 30 s would stop the stream. The browser releases a wake
// lock whenever the tab is hidden, so it is asked for again when the tab comes
// back. Browsers without the Screen Wake Lock API (or that refuse it: battery
// saver, no user gesture yet) simply let the screen sleep.

import { useEffect, useState } from 'react';

export type WakeLockState = 'unsupported' | 'off' | 'held' | 'refused';

interface WakeLockSentinelLike {
  released: boolean;
  release(): Promise<void>;
  addEventListener(type: 'release', listener: () => void): void;
}

interface WakeLockLike {
  request(type: 'screen'): Promise<WakeLockSentinelLike>;
}

function wakeLockApi(): WakeLockLike | null {
  if (typeof navigator === 'undefined') return null;
  const api = (navigator as Navigator & { wakeLock?: WakeLockLike }).wakeLock;
  return api && typeof api.request === 'function' ? api : null;
}

export function useWakeLock(wanted: boolean): WakeLockState {
  const [state, setState] = useState<WakeLockState>('off');

  useEffect(() => {
    const api = wakeLockApi();
    if (!api) {
      setState('unsupported');
      return;
    }
    if (!wanted) {
      setState('off');
      return;
    }
    let sentinel: WakeLockSentinelLike | null = null;
    let cancelled = false;
    const acquire = () => {
      if (cancelled || document.visibilityState !== 'visible' || (sentinel && !sentinel.released)) return;
      api.request('screen').then(
        (s) => {
          if (cancelled) {
            void s.release().catch(() => undefined);
            return;
          }
          sentinel = s;
          setState('held');
          s.addEventListener('release', () => {
            if (!cancelled) setState('off');
          });
        },
        () => {
          if (!cancelled) setState('refused');
        },
      );
    };
    acquire();
    document.addEventListener('visibilitychange', acquire);
    return () => {
      cancelled = true;
      document.removeEventListener('visibilitychange', acquire);
      if (sentinel && !sentinel.released) void sentinel.release().catch(() => undefined);
    };
  }, [wanted]);

  return state;
}
