import { afterEach, describe, expect, it, vi } from 'vitest';
import { AnalyzeError, analyzeImage, analyzeUrl, stripDataUrl } from './analyze';

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('analyze API', () => {
  it('strips the data: prefix', () => {
    expect(stripDataUrl('data:image/bmp;base64,Qk0=')).toBe('Qk0=');
    expect(stripDataUrl('Qk0=')).toBe('Qk0=');
  });

  it('posts base64Image and returns the predictions', async () => {
    const fetchMock = vi.fn(async () =>
      new Response(JSON.stringify([{ label: 'military uniform', confidence: 0.93 }]), { status: 200 }),
    );
    vi.stubGlobal('fetch', fetchMock);
    const preds = await analyzeImage('Qk0=');
    expect(preds).toEqual([{ label: 'military uniform', confidence: 0.93 }]);
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('/api/v1/analyze');
    expect(init.method).toBe('POST');
    expect(JSON.parse(String(init.body))).toEqual({ base64Image: 'Qk0=' });
  });

  it('asks for the chosen model with ?model=, and for the hub default without one', async () => {
    const fetchMock = vi.fn(async () => new Response(JSON.stringify([{ label: 'x', confidence: 0.5 }]), { status: 200 }));
    vi.stubGlobal('fetch', fetchMock);
    await analyzeImage('Qk0=', { model: 'insects@1' });
    await analyzeImage('Qk0=', { model: 'mobilenet_v2' });
    await analyzeImage('Qk0=', { model: null });
    const urls = fetchMock.mock.calls.map((c) => (c as unknown as [string])[0]);
    expect(urls).toEqual(['/api/v1/analyze?model=insects%401', '/api/v1/analyze?model=mobilenet_v2', '/api/v1/analyze']);
    // Not a model reference: never put in the URL.
    expect(analyzeUrl('a&b=c')).toBe('/api/v1/analyze');
  });

  it('turns error statuses into AnalyzeError with the hub message and code', async () => {
    vi.stubGlobal('fetch', async () => new Response(JSON.stringify({ message: 'no worker' }), { status: 503 }));
    await expect(analyzeImage('x')).rejects.toMatchObject({ status: 503, message: 'no worker', code: 'unavailable' });
    vi.stubGlobal(
      'fetch',
      async () => new Response(JSON.stringify({ message: 'm', code: 'bad_request' }), { status: 400 }),
    );
    await expect(analyzeImage('x')).rejects.toMatchObject({ status: 400, code: 'bad_request' });
    vi.stubGlobal('fetch', async () => new Response('bad gateway', { status: 502 }));
    await expect(analyzeImage('x')).rejects.toMatchObject({ status: 502, code: 'internal' });
    vi.stubGlobal('fetch', async () => {
      throw new TypeError('failed to fetch');
    });
    const err = await analyzeImage('x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AnalyzeError);
    expect((err as AnalyzeError).status).toBe(0);
    expect((err as AnalyzeError).code).toBeNull();
  });
});
