// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeSocket } from '../../test/fakeSocket';
import { insects, mobilenet } from '../../test/modelFixtures';
import { HubClient } from '../lib/hubClient';
import { HubProvider, idleHubSource, type HubSource } from '../lib/hubContext';
import { HubStore, INITIAL_HUB_SNAPSHOT } from '../lib/hubStore';
import { MODEL_STORAGE_KEY } from '../lib/models';
import { ModelPicker, NO_MODEL_TEXT } from './ModelPicker';

/** A store on a fake socket with the tab's real (jsdom) sessionStorage, as the page makes it. */
function pageStore() {
  const client = new HubClient({ url: 'ws://hub.test/ws', createSocket: (u, p) => new FakeSocket(u, p), pingIntervalMs: 0 });
  const store = new HubStore(client, { fetchModels: async () => [mobilenet, insects] });
  const source: HubSource = {
    ...idleHubSource(),
    subscribe: store.subscribe,
    getSnapshot: store.getSnapshot,
    client,
    setModel: store.setModel,
    refreshModels: store.refreshModels,
  };
  return { store, source };
}

function openPicker() {
  fireEvent.mouseDown(screen.getByRole('combobox', { name: 'Model' }));
  return screen.getByRole('listbox');
}

beforeEach(() => {
  FakeSocket.reset();
  window.sessionStorage.clear();
});
afterEach(cleanup);

describe('ModelPicker', () => {
  it('lists the served models with their class counts and descriptions, and each version', () => {
    const { store, source } = pageStore();
    render(
      <HubProvider hub={source}>
        <ModelPicker />
      </HubProvider>,
    );
    act(() => {
      store.start();
      FakeSocket.last().accept('sess-1', { models: [mobilenet, insects], model: 'mobilenet_v2@1' });
    });
    const combobox = screen.getByRole('combobox', { name: 'Model' });
    expect(combobox.textContent).toBe('MobileNetV2 (ImageNet) (mobilenet_v2) · latest (v1)');
    const list = openPicker();
    const options = within(list).getAllByRole('option');
    expect(options.map((o) => o.getAttribute('data-value'))).toEqual(['insects', 'insects@1', 'insects@2', 'mobilenet_v2']);
    const mobilenetOption = within(list).getByRole('option', { name: /mobilenet_v2/ });
    expect(mobilenetOption.textContent).toContain('MobileNetV2 (ImageNet) (mobilenet_v2) — latest (v1)');
    expect(mobilenetOption.textContent).toContain('1,001 classes — MobileNetV2 1.0, 224x224, the 1,000 ImageNet classes');
    expect(options[0]?.textContent).toContain('1,022 classes');
    act(() => store.stop());
  });

  it('choosing a model sends it, keeps it for the tab, and a reload asks for it again', async () => {
    const first = pageStore();
    const view = render(
      <HubProvider hub={first.source}>
        <ModelPicker />
      </HubProvider>,
    );
    act(() => {
      first.store.start();
      FakeSocket.last().accept('sess-1', { models: [mobilenet, insects], model: 'mobilenet_v2@1' });
    });
    const ws = FakeSocket.last();
    const list = openPicker();
    await act(async () => {
      fireEvent.click(within(list).getByRole('option', { name: /^insects — latest/ }));
    });
    expect(ws.controls).toEqual([{ type: 'options', model: 'insects' }]);
    expect(window.sessionStorage.getItem(MODEL_STORAGE_KEY)).toBe('insects');
    expect(screen.getByRole('combobox', { name: 'Model' }).textContent).toBe('insects · latest (v2)');
    act(() => first.store.stop());
    view.unmount();

    // The same tab loads the page again: a new session on the hub's default model.
    const second = pageStore();
    render(
      <HubProvider hub={second.source}>
        <ModelPicker />
      </HubProvider>,
    );
    act(() => {
      second.store.start();
      FakeSocket.last().accept('sess-2', { models: [mobilenet, insects], model: 'mobilenet_v2@1' });
    });
    expect(FakeSocket.last().controls).toEqual([{ type: 'options', model: 'insects' }]);
    expect(screen.getByRole('combobox', { name: 'Model' }).textContent).toBe('insects · latest (v2)');
    act(() => second.store.stop());
  });

  it('opening the list reads the models afresh', () => {
    const refreshModels = vi.fn(async () => undefined);
    render(
      <HubProvider
        hub={{ ...idleHubSource({ ...INITIAL_HUB_SNAPSHOT, connection: 'connected', models: [mobilenet] }), refreshModels }}
      >
        <ModelPicker />
      </HubProvider>,
    );
    openPicker();
    expect(refreshModels).toHaveBeenCalledTimes(1);
  });

  it('is disabled, and says why, while no model is served', () => {
    render(
      <HubProvider hub={idleHubSource({ ...INITIAL_HUB_SNAPSHOT, connection: 'connected', models: [] })}>
        <ModelPicker />
      </HubProvider>,
    );
    const combobox = screen.getByRole('combobox', { name: 'Model' });
    expect(combobox.getAttribute('aria-disabled')).toBe('true');
    expect(screen.getByTestId('model-picker-empty').textContent).toBe(NO_MODEL_TEXT);
    expect(combobox.getAttribute('aria-describedby')).toContain('model-picker-help');
  });
});
