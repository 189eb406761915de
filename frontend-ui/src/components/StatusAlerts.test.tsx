// @vitest-environment jsdom
import { cleanup, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { HubProvider, idleHubSource } from '../lib/hubContext';
import { INITIAL_HUB_SNAPSHOT } from '../lib/hubStore';
import { PROTOCOL_VERSION } from '../lib/contract';
import { ProtocolAlert } from './StatusAlerts';

function renderWith(hubProtocol: number | null) {
  return render(
    <HubProvider hub={idleHubSource({ ...INITIAL_HUB_SNAPSHOT, hubProtocol })}>
      <ProtocolAlert />
    </HubProvider>,
  );
}

afterEach(cleanup);

describe('ProtocolAlert', () => {
  it('says nothing when the versions match or the hub sent none', () => {
    renderWith(PROTOCOL_VERSION);
    renderWith(null);
    expect(screen.queryByTestId('alert-protocol-mismatch')).toBeNull();
  });

  it('says plainly that a newer hub wants a reload', () => {
    renderWith(PROTOCOL_VERSION + 1);
    const alert = screen.getByTestId('alert-protocol-mismatch');
    expect(alert.getAttribute('role')).toBe('alert');
    expect(alert.textContent).toContain(`The page speaks version ${PROTOCOL_VERSION}, the hub version ${PROTOCOL_VERSION + 1}`);
    expect(alert.textContent).toMatch(/reload the page/);
  });

  it('says when the hub is the older one', () => {
    renderWith(PROTOCOL_VERSION - 1);
    expect(screen.getByTestId('alert-protocol-mismatch').textContent).toMatch(/hub is older than this page/);
  });
});
