// @vitest-environment jsdom
import { cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { HubProvider, idleHubSource } from '../lib/hubContext';
import { INITIAL_HUB_SNAPSHOT } from '../lib/hubStore';
import { RecordingIndicator } from './Header';

function renderWith(recording: boolean) {
  return render(
    <HubProvider hub={idleHubSource({ ...INITIAL_HUB_SNAPSHOT, connection: 'connected', recording })}>
      <RecordingIndicator />
    </HubProvider>,
  );
}

afterEach(cleanup);

describe('RecordingIndicator', () => {
  it('says so while the hub records this page’s frames', () => {
    renderWith(true);
    const indicator = screen.getByTestId('recording-indicator');
    expect(indicator.getAttribute('role')).toBe('status');
    expect(indicator.textContent).toBe('Recording');
  });

  it('shows nothing when the hub does not record', () => {
    renderWith(false);
    expect(screen.queryByTestId('recording-indicator')).toBeNull();
  });
});
