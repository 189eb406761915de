// @vitest-environment jsdom
import { act, cleanup, renderHook } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { useWakeLock } from './useWakeLock';

class FakeSentinel {
  released = false;
  private listeners: (() => void)[] = [];
  addEventListener(_type: 'release', l: () => void) {
    this.listeners.push(l);
  }
  release() {
    this.released = true;
    this.listeners.forEach((l) => l());
    return Promise.resolve();
  }
}

function installWakeLock() {
  const sentinels: FakeSentinel[] = [];
  const request = vi.fn(() => {
    const s = new FakeSentinel();
    sentinels.push(s);
    return Promise.resolve(s);
  });
  Object.defineProperty(navigator, 'wakeLock', { configurable: true, value: { request } });
  return { request, sentinels };
}

function setVisibility(state: 'visible' | 'hidden') {
  Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state });
  document.dispatchEvent(new Event('visibilitychange'));
}

afterEach(() => {
  cleanup();
  delete (navigator as { wakeLock?: unknown }).wakeLock;
  delete (document as { visibilityState?: unknown }).visibilityState;
});

describe('useWakeLock', () => {
  it('says unsupported where the API is missing', () => {
    const { result } = renderHook(() => useWakeLock(true));
    expect(result.current).toBe('unsupported');
  });

  it('holds the lock while wanted, asks again when the tab comes back, releases when no longer wanted', async () => {
    const { request, sentinels } = installWakeLock();
    setVisibility('visible');
    const { result, rerender } = renderHook(({ wanted }) => useWakeLock(wanted), { initialProps: { wanted: true } });
    await act(async () => undefined);
    expect(request).toHaveBeenCalledTimes(1);
    expect(result.current).toBe('held');

    // Hidden: the browser releases the lock by itself.
    await act(async () => {
      setVisibility('hidden');
      await sentinels[0]?.release();
    });
    expect(result.current).toBe('off');
    await act(async () => setVisibility('visible'));
    expect(request).toHaveBeenCalledTimes(2);
    expect(result.current).toBe('held');

    rerender({ wanted: false });
    await act(async () => undefined);
    expect(sentinels[1]?.released).toBe(true);
    expect(result.current).toBe('off');
  });

  it('says refused when the browser declines', async () => {
    Object.defineProperty(navigator, 'wakeLock', {
      configurable: true,
      value: { request: () => Promise.reject(new DOMException('no', 'NotAllowedError')) },
    });
    setVisibility('visible');
    const { result } = renderHook(() => useWakeLock(true));
    await act(async () => undefined);
    expect(result.current).toBe('refused');
  });
});
