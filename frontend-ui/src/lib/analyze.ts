// POST /api/v1/analyze: one image in, its top-3 out, by the chosen model (?model=).
import { bearerHeaders } from './apiKey';
import { errorCodeForStatus, ErrorCode, isErrorCode, MODEL_REF_PATTERN, type Prediction } from './contract';

/** The route (x-rest `POST /api/v1/analyze`) and its query parameter naming the model. */
const ANALYZE_PATH = '/api/v1/analyze';
const MODEL_QUERY = 'model';

/** The request's address: `?model=` when a model (`name` or `name@version`) is given; else the hub's default model. */
export function analyzeUrl(model?: string | null): string {
  if (!model || !MODEL_REF_PATTERN.test(model)) return ANALYZE_PATH;
  return `${ANALYZE_PATH}?${new URLSearchParams({ [MODEL_QUERY]: model }).toString()}`;
}

export interface AnalyzeOptions {
  /** The model to classify with, `name` or `name@version`; the hub's default when absent. */
  model?: string | null;
  signal?: AbortSignal;
}

export class AnalyzeError extends Error {
  /**
   * The hub's error code: the answer's `code`, else the code of its HTTP
   * status; null when the hub did not answer at all (status 0).
   */
  readonly code: ErrorCode | null;

  constructor(
    readonly status: number,
    message: string,
    code?: unknown,
  ) {
    super(message);
    this.name = 'AnalyzeError';
    this.code = isErrorCode(code) ? code : status === 0 ? null : (errorCodeForStatus(status) ?? ErrorCode.internal);
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

export async function analyzeImage(
  base64Image: string,
  { model, signal }: AnalyzeOptions = {},
): Promise<Prediction[]> {
  let res: Response;
  try {
    const init: RequestInit = {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...bearerHeaders() },
      body: JSON.stringify({ base64Image }),
    };
    if (signal) init.signal = signal;
    res = await fetch(analyzeUrl(model), init);
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
    const answer = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
    const msg = typeof answer.message === 'string' ? answer.message : res.statusText;
    throw new AnalyzeError(res.status, msg, answer.code);
  }
  if (!Array.isArray(body)) throw new AnalyzeError(500, 'unexpected answer', ErrorCode.internal);
  return body.filter(
    (p): p is Prediction =>
      typeof p === 'object' && p !== null && typeof p.label === 'string' && typeof p.confidence === 'number',
  );
}
