// @vitest-environment jsdom
import { Profiler, type ReactNode } from 'react';
import { act, render, screen } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeSocket, fakeClientOptions, tinyJpeg } from '../../test/fakeSocket';
import { ConnectionChip } from '../components/StatusAlerts';
import { StatsRow } from '../components/StatsRow';
import { HubProvider, shallowEqual, useHubSelector, type HubSource } from './hubContext';
import { useHubSocket } from './useHubSocket';


beforeEach(() => {
  FakeSocket.reset();
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** Counts the commits in which something under each <Profiler> rendered. */
function renderCounter() {
  const renders = new Map<string, number>();
  const onRender = (id: string) => renders.set(id, (renders.get(id) ?? 0) + 1);
  const counted = (id: string, children: ReactNode) => (
    <Profiler id={id} onRender={onRender}>
      {children}
    </Profiler>
  );
  return { renders, counted };
}

function SessionText() {
  return <span data-testid="session">{useHubSelector((s) => s.session) ?? ''}</span>;
}

describe('useHubSelector', () => {
  it('re-renders a component only when the slice it reads changes', () => {
    const { renders, counted } = renderCounter();
    let pageRenders = 0;
    function Page() {
      pageRenders += 1;
      const hub = useHubSocket({ enabled: true, clientOptions: fakeClientOptions });
      return (
        <HubProvider hub={hub}>
          {counted('chip', <ConnectionChip />)}
          {counted('stats', <StatsRow />)}
          {counted('session', <SessionText />)}
        </HubProvider>
      );
    }
    render(<Page />);
    const ws = FakeSocket.last();
    const chip = screen.getByTestId('connection-status');
    expect(chip.getAttribute('data-state')).toBe('connecting');
    const count = () => ({
      chip: renders.get('chip') ?? 0,
      stats: renders.get('stats') ?? 0,
      session: renders.get('session') ?? 0,
      page: pageRenders,
    });
    let before = count();

    // The connection and the session change; the stats do not.
    act(() => ws.accept('sess-1'));
    expect(chip.getAttribute('data-state')).toBe('connected');
    expect(screen.getByTestId('session').textContent).toBe('sess-1');
    let after = count();
    expect(after.chip).toBeGreaterThan(before.chip);
    expect(after.session).toBeGreaterThan(before.session);
    expect(after.stats).toBe(before.stats);
    expect(after.page).toBe(before.page);

    // A stats tick with the same figures: a new stats object, no re-render anywhere.
    before = count();
    act(() => {
      vi.advanceTimersByTime(3_000);
    });
    expect(count()).toEqual(before);

    // A result changes the stats (and the last result), not the connection or the session.
    before = count();
    act(() => {
      ws.serverResult(1, 'Egyptian cat');
    });
    after = count();
    expect(screen.getByTestId('fps').textContent).not.toBe('0.0');
    expect(after.stats).toBeGreaterThan(before.stats);
    expect(after.chip).toBe(before.chip);
    expect(after.session).toBe(before.session);
    expect(after.page).toBe(before.page);
  });

  it('keeps an equal slice object, so a selector that builds one does not re-render', () => {
    const { renders, counted } = renderCounter();
    function Flags() {
      const { connected, hasError } = useHubSelector(
        (s) => ({ connected: s.connection === 'connected', hasError: s.lastError !== null }),
        shallowEqual,
      );
      return <span data-testid="flags">{`${connected} ${hasError}`}</span>;
    }
    let source: HubSource | null = null;
    function Page() {
      source = useHubSocket({ enabled: true, clientOptions: fakeClientOptions });
      return <HubProvider hub={source}>{counted('flags', <Flags />)}</HubProvider>;
    }
    render(<Page />);
    const ws = FakeSocket.last();
    act(() => ws.accept('sess-1'));
    expect(screen.getByTestId('flags').textContent).toBe('true false');
    const before = renders.get('flags');
    const snapshot = source!.getSnapshot();
    act(() => {
      vi.advanceTimersByTime(2_000); // stats ticks
    });
    act(() => {
      expect(source!.sendFrame(tinyJpeg())).toBe(1);
    });
    act(() => ws.serverSend({ type: 'dropped', seq: 1, reason: 'superseded' }));
    expect(source!.getSnapshot().stats.dropped).toBe(1);
    expect(source!.getSnapshot()).not.toBe(snapshot);
    expect(renders.get('flags')).toBe(before);
    act(() => ws.serverSend({ type: 'error', code: 'unavailable', message: 'no worker' }));
    expect(screen.getByTestId('flags').textContent).toBe('true true');
    expect(renders.get('flags')).toBeGreaterThan(before ?? 0);
  });
});

describe('shallowEqual', () => {
  it('compares the values of the same keys with Object.is', () => {
    expect(shallowEqual({ a: 1, b: null }, { a: 1, b: null })).toBe(true);
    expect(shallowEqual({ a: 1 }, { a: 2 })).toBe(false);
    expect(shallowEqual({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(shallowEqual({ a: {} }, { a: {} })).toBe(false);
    expect(shallowEqual(null, null)).toBe(true);
    expect(shallowEqual<object | null>({}, null)).toBe(false);
  });
});
