// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { memoryStorage } from '../../test/memoryStorage';
import { API_KEY_STORAGE_KEY } from '../lib/apiKey';
import { HubProvider, idleHubSource } from '../lib/hubContext';
import { INITIAL_HUB_SNAPSHOT } from '../lib/hubStore';
import { CloseCode } from '../lib/contract';
import { ApiKeyDialog } from './ApiKeyDialog';

function renderWith(closeCode: number | null) {
  const session = memoryStorage();
  const local = memoryStorage();
  const onSaved = vi.fn();
  render(
    <HubProvider hub={idleHubSource({ ...INITIAL_HUB_SNAPSHOT, connection: 'closed', closeCode })}>
      <ApiKeyDialog onSaved={onSaved} storages={{ session, local }} />
    </HubProvider>,
  );
  return { session, local, onSaved };
}

afterEach(cleanup);

describe('ApiKeyDialog', () => {
  it('stays closed unless the hub refused the session as unauthorized', () => {
    renderWith(CloseCode.rate_limited.code);
    expect(screen.queryByTestId('api-key-input')).toBeNull();
  });

  it('asks for the key after a 4401, keeps it on this device when asked, and connects again', () => {
    const { session, local, onSaved } = renderWith(CloseCode.unauthorized.code);
    expect(screen.getByText('This hub needs an API key')).toBeTruthy();
    const save = screen.getByTestId('api-key-save') as HTMLButtonElement;
    expect(save.disabled).toBe(true);
    fireEvent.change(screen.getByTestId('api-key-input'), { target: { value: 'whk_abc' } });
    fireEvent.click(screen.getByLabelText(/Remember on this device/));
    fireEvent.click(save);
    expect(local.map.get(API_KEY_STORAGE_KEY)).toBe('whk_abc');
    expect(session.map.size).toBe(0);
    expect(onSaved).toHaveBeenCalledTimes(1);
  });

  it('keeps the key for this tab only by default', () => {
    const { session, local } = renderWith(CloseCode.unauthorized.code);
    fireEvent.change(screen.getByTestId('api-key-input'), { target: { value: 'whk_tab' } });
    fireEvent.click(screen.getByTestId('api-key-save'));
    expect(session.map.get(API_KEY_STORAGE_KEY)).toBe('whk_tab');
    expect(local.map.size).toBe(0);
  });
});
