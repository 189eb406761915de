// @vitest-environment jsdom
import { act, render, renderHook } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeSocket, fakeClientOptions, tinyJpeg } from '../../test/fakeSocket';
import { HubProvider, useHubActions, useHubSelector, type HubSource } from './hubContext';
import { STATS_PROBE_PARAM } from './hubStatsProbe';
import type { HubSnapshot } from './hubStore';
import { useHubSocket } from './useHubSocket';


beforeEach(() => {
  FakeSocket.reset();
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
  delete window.__hubStats;
  window.history.replaceState(null, '', '/');
});

type HubView = HubSnapshot & Pick<HubSource, 'sendFrame'>;

/**
 * Mounts the hook as the page does (its source in a HubProvider) and reads
 * the whole snapshot back. The page URL has the probe's switch unless
 * `pageSearch` says otherwise.
 */
function setup(watch: string | null = null, pageSearch = `?${STATS_PROBE_PARAM}=1`) {
  window.history.replaceState(null, '', `/${pageSearch}`);
  const result = { current: undefined as unknown as HubView };
  function Reader() {
    const { sendFrame } = useHubActions();
    result.current = { ...useHubSelector((s) => s), sendFrame };
    return null;
  }
  function Page() {
    const hub = useHubSocket({ enabled: true, watch, clientOptions: fakeClientOptions });
    return (
      <HubProvider hub={hub}>
        <Reader />
      </HubProvider>
    );
  }
  return { result, ...render(<Page />) };
}

describe('useHubSocket', () => {
  it('connects to /ws on the page’s own origin and exposes the session', () => {
    const { result } = setup();
    const ws = FakeSocket.last();
    expect(ws.url).toBe(`ws://${window.location.host}/ws`);
    expect(result.current.connection).toBe('connecting');
    act(() => ws.accept('sess-9'));
    expect(result.current.connection).toBe('connected');
    expect(result.current.session).toBe('sess-9');
    expect(result.current.everConnected).toBe(true);
    expect(window.__hubStats?.session).toBe('sess-9');
  });

  it('does nothing until enabled', () => {
    renderHook(() => useHubSocket({ enabled: false, clientOptions: fakeClientOptions }));
    expect(FakeSocket.instances.length).toBe(0);
  });

  it('watch mode connects to /ws?watch=<id>', () => {
    setup('abc');
    expect(FakeSocket.last().url).toBe(`ws://${window.location.host}/ws?watch=abc`);
  });

  it('turns results, errors and drops into state and stats', () => {
    const { result } = setup();
    const ws = FakeSocket.last();
    act(() => ws.accept());
    let seqs: (number | null)[] = [];
    act(() => {
      seqs = [result.current.sendFrame(tinyJpeg()), result.current.sendFrame(tinyJpeg()), result.current.sendFrame(tinyJpeg())];
    });
    expect(seqs).toEqual([1, 2, null]); // two in flight at most
    expect(ws.frames.length).toBe(2);

    act(() => ws.serverSend({ type: 'error', seq: 1, code: 'unavailable', message: 'no worker' }));
    expect(result.current.lastError?.code).toBe('unavailable');
    expect(result.current.stats.errors).toBe(1);

    act(() => ws.serverSend({ type: 'dropped', seq: 2, reason: 'superseded' }));
    expect(result.current.stats.dropped).toBe(1);

    act(() => {
      result.current.sendFrame(tinyJpeg());
    });
    act(() => ws.serverResult(3, 'Egyptian cat'));
    expect(result.current.lastResult?.predictions[0]?.label).toBe('Egyptian cat');
    expect(result.current.lastError).toBeNull(); // a result clears the error
    expect(result.current.stats.results).toBe(1);
    expect(window.__hubStats).toMatchObject({ sent: 3, results: 1, dropped: 1, topLabel: 'Egyptian cat' });
    expect(window.__hubStats?.samples.map((s) => s.seq)).toEqual([3]);
    expect(window.__hubStats?.samples[0]?.shownAt).toBeTypeOf('number');
  });

  it('reports reconnecting with the delay, then resumes with a fresh session', () => {
    const { result } = setup();
    act(() => FakeSocket.last().accept('one'));
    act(() => FakeSocket.last().serverClose());
    expect(result.current.connection).toBe('reconnecting');
    expect(result.current.retryInMs).toBe(500);
    expect(result.current.session).toBeNull();
    expect(result.current.everConnected).toBe(true);
    act(() => {
      vi.advanceTimersByTime(500);
    });
    act(() => FakeSocket.last().accept('two'));
    expect(result.current.connection).toBe('connected');
    expect(result.current.session).toBe('two');
    let seq: number | null = null;
    act(() => {
      seq = result.current.sendFrame(tinyJpeg());
    });
    expect(seq).toBe(1);
  });

  it('starts the stats probe only when the page URL asks for it (?probe=1)', () => {
    const { result } = setup(null, '');
    const ws = FakeSocket.last();
    act(() => ws.accept('sess-1'));
    act(() => {
      result.current.sendFrame(tinyJpeg());
    });
    act(() => ws.serverResult(1, 'Egyptian cat'));
    expect(result.current.lastResult?.predictions[0]?.label).toBe('Egyptian cat');
    expect(window.__hubStats).toBeUndefined();
    expect('__hubStats' in window).toBe(false);

    for (const search of ['?probe=0', '?probe=yes', '?other=1']) {
      const other = setup(null, search);
      act(() => FakeSocket.last().accept());
      expect(window.__hubStats, search).toBeUndefined();
      other.unmount();
    }
  });

  it('closes the socket on unmount', () => {
    const { unmount } = setup();
    const ws = FakeSocket.last();
    act(() => ws.accept());
    unmount();
    expect(ws.closedWith?.code).toBe(1000);
    act(() => {
      vi.advanceTimersByTime(60_000);
    });
    expect(FakeSocket.instances.length).toBe(1);
  });
});
