// POST /api/v1/analyze: one image in, its top-3 out.
import type { Prediction } from './protocol';

export class AnalyzeError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'AnalyzeError';
  }
}

/** Base64 of a data: URL's payload (what the API wants: no "data:…;base64," prefix). */
export function stripDataUrl(dataUrl: string): string {
  const comma = dataUrl.indexOf(',');
  return comma >= 0 ? dataUrl.slice(comma + 1) : dataUrl;
}

export function fileToBase64(file: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(stripDataUrl(String(r.result)));
    r.onerror = () => reject(r.error ?? new Error('could not read the file'));
    r.readAsDataURL(file);
  });
}

/** What a person should read for an HTTP status of the API. */
export function describeAnalyzeStatus(status: number): { title: string; body: string } {
  switch (status) {
    case 400:
      return {
        title: 'That file could not be read as an image',
        body: 'Choose a JPEG, PNG, WebP or BMP photo.',
      };
    case 413:
      return { title: 'The image is too large', body: 'Choose a smaller image (or resize it) and try again.' };
    case 429:
      return { title: 'Too many requests', body: 'Wait a moment and try again.' };
    case 503:
      return {
        title: 'No classifier worker is answering',
        body: 'Start a worker (python -m inference_server, or make run) and try again.',
      };
    case 504:
      return { title: 'The worker took too long', body: 'The workers are busy; try again in a moment.' };
    case 0:
      return { title: 'Can’t reach the hub', body: 'Check that the hub is running, then try again.' };
    default:
      return { title: 'The hub ran into a problem', body: 'Try again; if it persists, check the hub’s logs.' };
  }
}

export async function analyzeImage(base64Image: string, signal?: AbortSignal): Promise<Prediction[]> {
  let res: Response;
  try {
    const init: RequestInit = {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ base64Image }),
    };
    if (signal) init.signal = signal;
    res = await fetch('/api/v1/analyze', init);
  } catch (err) {
    if (err instanceof DOMException && err.name === 'AbortError') throw err;
    throw new AnalyzeError(0, 'network error');
  }
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (!res.ok) {
    const msg =
      body && typeof body === 'object' && 'message' in body && typeof body.message === 'string' ? body.message : res.statusText;
    throw new AnalyzeError(res.status, msg);
  }
  if (!Array.isArray(body)) throw new AnalyzeError(500, 'unexpected answer');
  return body.filter(
    (p): p is Prediction =>
      typeof p === 'object' && p !== null && typeof p.label === 'string' && typeof p.confidence === 'number',
  );
}
