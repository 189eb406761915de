// @vitest-environment jsdom
import { cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { HubProvider, idleHubSource } from '../lib/hubContext';
import { INITIAL_HUB_SNAPSHOT } from '../lib/hubStore';
import { AnsweringModel, RecordingIndicator } from './Header';

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

describe('AnsweringModel', () => {
  it('names the model of the last result, else the session’s, else nothing', () => {
    const view = render(
      <HubProvider hub={idleHubSource({ ...INITIAL_HUB_SNAPSHOT, model: 'insects@2', answeringModel: 'mobilenet_v2@1' })}>
        <AnsweringModel />
      </HubProvider>,
    );
    // Switched, but the new model has not answered yet: the header names the one whose labels are shown.
    expect(screen.getByTestId('answering-model').textContent).toBe('mobilenet_v2@1');
    view.unmount();
    render(
      <HubProvider hub={idleHubSource({ ...INITIAL_HUB_SNAPSHOT, model: 'insects@2' })}>
        <AnsweringModel />
      </HubProvider>,
    );
    expect(screen.getByTestId('answering-model').textContent).toBe('insects@2');
    cleanup();
    render(
      <HubProvider hub={idleHubSource(INITIAL_HUB_SNAPSHOT)}>
        <AnsweringModel />
      </HubProvider>,
    );
    expect(screen.queryByTestId('answering-model')).toBeNull();
  });
});
