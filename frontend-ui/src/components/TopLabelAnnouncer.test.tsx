// @vitest-environment jsdom
import { act, render, screen } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TopLabelAnnouncer } from './TopLabelAnnouncer';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('TopLabelAnnouncer', () => {
  it('announces politely, only a label that held, and only when it changes', () => {
    const { rerender } = render(<TopLabelAnnouncer label="Egyptian cat" />);
    const region = screen.getByTestId('top-label-announcer');
    expect(region.getAttribute('aria-live')).toBe('polite');
    expect(region.textContent).toBe('');
    act(() => {
      vi.advanceTimersByTime(1_000);
    });
    expect(region.textContent).toBe('Now seeing: Egyptian cat');

    // A flicker shorter than the settle time is not announced.
    rerender(<TopLabelAnnouncer label="tabby, tabby cat" />);
    act(() => {
      vi.advanceTimersByTime(300);
    });
    rerender(<TopLabelAnnouncer label="Egyptian cat" />);
    act(() => {
      vi.advanceTimersByTime(2_000);
    });
    expect(region.textContent).toBe('Now seeing: Egyptian cat');

    rerender(<TopLabelAnnouncer label="tabby, tabby cat" />);
    act(() => {
      vi.advanceTimersByTime(1_000);
    });
    expect(region.textContent).toBe('Now seeing: tabby, tabby cat');
  });
});
