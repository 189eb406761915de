// Messages of the hub's WebSocket protocol (see /work/shared/DESIGN.md and the
// project's docs/protocol.md). Only the fields the page uses are typed; the hub
// may send more.

export interface Prediction {
  label: string;
  index?: number;
  confidence: number;
}

export interface Timing {
  decode_ms?: number;
  infer_ms?: number;
  batch?: number;
}

export interface WelcomeMessage {
  type: 'welcome';
  session: string;
  watching?: string;
  protocol?: number;
  maxFrameBytes?: number;
  framesInFlight?: number;
  frameTimeoutMs?: number;
}

export interface ResultMessage {
  type: 'result';
  seq: number;
  session?: string;
  model?: string;
  predictions: Prediction[];
  timing?: Timing;
  worker?: string;
}

/** Error codes the hub documents; others may appear and are shown generically. */
export type HubErrorCode =
  | 'bad_image'
  | 'too_large'
  | 'timeout'
  | 'unavailable'
  | 'rate_limited'
  | 'bad_request'
  | 'unknown_session'
  | 'internal'
  | (string & {});

export interface ErrorMessage {
  type: 'error';
  /** Absent (or 0) when the error is not about a frame. */
  seq?: number;
  code: HubErrorCode;
  message: string;
}

export interface DroppedMessage {
  type: 'dropped';
  seq: number;
  reason?: string;
}

export interface PongMessage {
  type: 'pong';
  id?: unknown;
  time?: number;
}

/** Sent to watchers when the watched session ends (its tab closed or reconnected). */
export interface EndedMessage {
  type: 'ended';
  session?: string;
}

export type ServerMessage = WelcomeMessage | ResultMessage | ErrorMessage | DroppedMessage | PongMessage | EndedMessage;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isPrediction(v: unknown): v is Prediction {
  return isObject(v) && typeof v.label === 'string' && typeof v.confidence === 'number';
}

/**
 * Parses one text message from the hub. Returns null for anything that is not
 * a well-formed message of a known type (the page ignores those).
 */
export function parseServerMessage(text: string): ServerMessage | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObject(v) || typeof v.type !== 'string') return null;
  switch (v.type) {
    case 'welcome':
      return typeof v.session === 'string' ? (v as unknown as WelcomeMessage) : null;
    case 'result':
      if (!Array.isArray(v.predictions) || !v.predictions.every(isPrediction)) return null;
      return { ...(v as unknown as ResultMessage), seq: typeof v.seq === 'number' ? v.seq : 0 };
    case 'error':
      return {
        type: 'error',
        seq: typeof v.seq === 'number' ? v.seq : undefined,
        code: typeof v.code === 'string' ? v.code : 'internal',
        message: typeof v.message === 'string' ? v.message : '',
      };
    case 'dropped':
      return typeof v.seq === 'number' ? (v as unknown as DroppedMessage) : null;
    case 'pong':
      return v as unknown as PongMessage;
    case 'ended':
      return { type: 'ended', ...(typeof v.session === 'string' ? { session: v.session } : {}) };
    default:
      return null;
  }
}

/** The WebSocket URL of the page's own origin (never hard-coded). */
export function hubSocketUrl(
  loc: { protocol: string; host: string },
  watch?: string | null,
  resume?: string | null,
): string {
  const scheme = loc.protocol === 'https:' ? 'wss' : 'ws';
  const query = watch
    ? `?watch=${encodeURIComponent(watch)}`
    : resume
      ? `?resume=${encodeURIComponent(resume)}`
      : '';
  return `${scheme}://${loc.host}/ws${query}`;
}
