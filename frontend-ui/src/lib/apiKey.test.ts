// @vitest-environment jsdom
import { describe, expect, it, vi } from 'vitest';
import { memoryStorage } from '../../test/memoryStorage';
import { API_KEY_STORAGE_KEY, bearerHeaders, forgetApiKey, loadApiKey, saveApiKey, type KeyStorages } from './apiKey';
import { analyzeImage, AnalyzeError } from './analyze';
import { ErrorCode } from './contract';

function storages() {
  const session = memoryStorage();
  const local = memoryStorage();
  return { session, local, both: { session, local } satisfies KeyStorages };
}

describe('the API key', () => {
  it('is kept for the tab unless the person asks to remember it, and one key is in use', () => {
    const { session, local, both } = storages();
    expect(loadApiKey(both)).toBeNull();
    saveApiKey('  whk_tab  ', false, both);
    expect(session.map.get(API_KEY_STORAGE_KEY)).toBe('whk_tab');
    expect(local.map.size).toBe(0);
    saveApiKey('whk_device', true, both);
    expect(local.map.get(API_KEY_STORAGE_KEY)).toBe('whk_device');
    expect(session.map.size).toBe(0); // the tab's older key is forgotten
    expect(loadApiKey(both)).toBe('whk_device');
    forgetApiKey(both);
    expect(loadApiKey(both)).toBeNull();
  });

  it('goes as Authorization: Bearer on the analyze API, and a 401 reads as unauthorized', async () => {
    expect(bearerHeaders(null)).toEqual({});
    expect(bearerHeaders('whk_x')).toEqual({ Authorization: 'Bearer whk_x' });
    sessionStorage.setItem(API_KEY_STORAGE_KEY, 'whk_upload');
    const fetchMock = vi.fn(
      async () =>
        new Response(JSON.stringify({ code: 'unauthorized', message: 'a valid API key or token is required' }), {
          status: 401,
        }),
    );
    vi.stubGlobal('fetch', fetchMock);
    try {
      const err = await analyzeImage('AAAA').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AnalyzeError);
      expect((err as AnalyzeError).code).toBe(ErrorCode.unauthorized);
      const init = (fetchMock.mock.calls[0] as unknown as [string, RequestInit])[1];
      expect((init.headers as Record<string, string>).Authorization).toBe('Bearer whk_upload');
    } finally {
      vi.unstubAllGlobals();
      sessionStorage.clear();
    }
  });
});
