// The page's one home of the hub's wire names: the /ws path and its query
// parameters, message types, error codes, close codes and dropped reasons.
// The contract itself is docs/asyncapi.yaml (docs/protocol.md is its readable
// companion); contract.test.ts checks every name here against it, both ways.
// Only the messages' fields the page uses are typed, required where the
// contract requires them; the hub may send more.

/** The `protocol` field of welcome (root `x-protocol-version`). */
export const PROTOCOL_VERSION = 1;

/**
 * How a page tells its protocol from the hub's `welcome.protocol`: "same";
 * "hub-newer" (this page is out of date: reloading it fetches the hub's own);
 * "hub-older" (the hub has not been updated yet); "unknown" when the welcome
 * says nothing (a hub older than the field).
 */
export type ProtocolMatch = 'same' | 'hub-newer' | 'hub-older' | 'unknown';

export function compareProtocol(hubProtocol: unknown, mine: number = PROTOCOL_VERSION): ProtocolMatch {
  if (typeof hubProtocol !== 'number' || !Number.isInteger(hubProtocol)) return 'unknown';
  if (hubProtocol === mine) return 'same';
  return hubProtocol > mine ? 'hub-newer' : 'hub-older';
}

/** Joins the synonyms of a prediction's label, common name first (root `x-label-synonym-separator`). */
export const LABEL_SYNONYM_SEPARATOR = ', ';

/** The WebSocket channel's address. */
export const WS_PATH = '/ws';

/**
 * The WebSocket subprotocol the page offers and the hub selects (root
 * `x-ws-subprotocol`); a resuming page also offers RESUME_PROTOCOL_PREFIX + its
 * resume token (`x-ws-resume-protocol-prefix`), so the secret never goes in a URL.
 */
export const WS_SUBPROTOCOL = 'webcamhub';
export const RESUME_PROTOCOL_PREFIX = 'webcamhub.resume.';
/**
 * When the hub requires client authentication, a streaming page also offers
 * BEARER_PROTOCOL_PREFIX + its API key or JWT (root `x-ws-bearer-protocol-prefix`);
 * the REST API takes the same credential as `Authorization: Bearer`.
 */
export const BEARER_PROTOCOL_PREFIX = 'webcamhub.bearer.';

/** The subprotocols to offer: the page's, plus the resume token and the API key when there are. */
export function hubSocketProtocols(resumeToken?: string | null, apiKey?: string | null): string[] {
  const protocols = [WS_SUBPROTOCOL];
  if (resumeToken) protocols.push(RESUME_PROTOCOL_PREFIX + resumeToken);
  if (apiKey) protocols.push(BEARER_PROTOCOL_PREFIX + apiKey);
  return protocols;
}

/** The query parameters of /ws. The page's own URL uses the same `watch` name for its watch links. */
export const WsQuery = {
  watch: 'watch',
  resume: 'resume',
} as const;

/** `type` of the JSON messages the hub sends. */
export const ServerMessageType = {
  welcome: 'welcome',
  result: 'result',
  error: 'error',
  dropped: 'dropped',
  pong: 'pong',
  ended: 'ended',
  /** Acknowledges `options` with a `model`: the session's model from now on. */
  model: 'model',
} as const;

/** `type` of the JSON control messages a client sends (frames themselves go as binary messages). */
export const ControlMessageType = {
  frame: 'frame',
  options: 'options',
  ping: 'ping',
} as const;

/** The error codes the hub documents (root `x-error-codes`, schema ErrorCode). */
export const ErrorCode = {
  badImage: 'bad_image',
  tooLarge: 'too_large',
  timeout: 'timeout',
  unavailable: 'unavailable',
  rateLimited: 'rate_limited',
  badRequest: 'bad_request',
  unknownSession: 'unknown_session',
  unsupportedMediaType: 'unsupported_media_type',
  unauthorized: 'unauthorized',
  unknownModel: 'unknown_model',
  modelUnavailable: 'model_unavailable',
  modelForbidden: 'model_forbidden',
  internal: 'internal',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The HTTP status the REST API answers with for each code. */
export const ERROR_HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  [ErrorCode.badImage]: 400,
  [ErrorCode.tooLarge]: 413,
  [ErrorCode.timeout]: 504,
  [ErrorCode.unavailable]: 503,
  [ErrorCode.rateLimited]: 429,
  [ErrorCode.badRequest]: 400,
  [ErrorCode.unknownSession]: 404,
  [ErrorCode.unsupportedMediaType]: 415,
  [ErrorCode.unauthorized]: 401,
  [ErrorCode.unknownModel]: 404,
  [ErrorCode.modelUnavailable]: 503,
  [ErrorCode.modelForbidden]: 403,
  [ErrorCode.internal]: 500,
};

const errorCodes: ReadonlySet<string> = new Set(Object.values(ErrorCode));

export function isErrorCode(v: unknown): v is ErrorCode {
  return typeof v === 'string' && errorCodes.has(v);
}

/**
 * The code an HTTP status of the REST API stands for, for answers that carry
 * none (the first code listed with that status); null for a status the hub
 * does not use.
 */
export function errorCodeForStatus(status: number): ErrorCode | null {
  for (const code of Object.values(ErrorCode)) {
    if (ERROR_HTTP_STATUS[code] === status) return code;
  }
  return null;
}

/** WebSocket close codes the hub uses (root `x-close-codes`), and whether a client should reconnect after one. */
export const CloseCode = {
  normal: { code: 1000, reconnect: false },
  going_away: { code: 1001, reconnect: true },
  too_big: { code: 1009, reconnect: true },
  internal: { code: 1011, reconnect: true },
  slow_client: { code: 4001, reconnect: true },
  unknown_session: { code: 4004, reconnect: false },
  rate_limited: { code: 4029, reconnect: false },
  unauthorized: { code: 4401, reconnect: false },
} as const;

/** The close codes after which reconnecting cannot help. */
export const CLOSE_CODES_WITHOUT_RECONNECT: readonly number[] = Object.values(CloseCode)
  .filter((c) => !c.reconnect)
  .map((c) => c.code);

/**
 * The close code the page itself sends when it has heard nothing from the hub
 * for two ping periods (the connection is dead even if TCP has not noticed).
 */
export const NO_ANSWER_CLOSE_CODE = 4000;

/** Why a frame was answered `dropped` (schema DroppedReason). */
export const DroppedReason = {
  superseded: 'superseded',
  overloaded: 'overloaded',
} as const;

// --- models ----------------------------------------------------------------

/** A model's name (schema ModelName). */
export const MODEL_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** How a client names a model, `name` (its default version) or `name@version` (schema ModelRef). */
export const MODEL_REF_PATTERN = /^[A-Za-z0-9_-]{1,64}(@[1-9][0-9]{0,8})?$/;
/** Joins name and version in a model reference (root `x-model-ref-version-separator`). */
export const MODEL_REF_VERSION_SEPARATOR = '@';

/** What a model does (schema ModelTask); classification is the only task now. */
export const ModelTask = {
  classification: 'classification',
} as const;

/** `name@version`, as the welcome's `model` names the session's model. */
export function modelRef(name: string, version: number): string {
  return `${name}${MODEL_REF_VERSION_SEPARATOR}${version}`;
}

/** A model served now, as the welcome lists it (schema ModelSummary). */
export interface ModelSummary {
  name: string;
  /** The versions served now, ascending. */
  versions: number[];
  /** The highest version served now: what `name` alone picks. */
  defaultVersion: number;
  /** May be empty. */
  displayName: string;
  /** May be empty. */
  description: string;
  classes: number;
  task: string;
}

// --- messages --------------------------------------------------------------

export interface Prediction {
  label: string;
  index?: number;
  confidence: number;
}

export interface Timing {
  decode_ms?: number;
  decode_cpu_ms?: number;
  infer_ms?: number;
  batch?: number;
}

export interface WelcomeMessage {
  type: typeof ServerMessageType.welcome;
  session: string;
  watching?: string;
  protocol: number;
  maxFrameBytes: number;
  framesInFlight: number;
  frameTimeoutMs: number;
  /** The streaming owner's secret for resuming this session (never a watcher's); kept in memory only. */
  resumeToken?: string;
  /** The hub records the frames this connection sends, and their results (HUB_RECORD); false for watchers. */
  recording: boolean;
  /** The models served now (empty while no worker serves one). */
  models: ModelSummary[];
  /** The session's model (the watched session's, for watchers) as `name@version`, when one is served. */
  model?: string;
}

export interface ResultMessage {
  type: typeof ServerMessageType.result;
  seq: number;
  session?: string;
  model?: string;
  /** The model's version; absent from hubs before models. */
  version?: number;
  task?: string;
  predictions: Prediction[];
  timing?: Timing;
  worker?: string;
}

/** A documented code, or another one (shown generically). */
export type HubErrorCode = ErrorCode | (string & {});

export interface ErrorMessage {
  type: typeof ServerMessageType.error;
  /** Absent (or 0) when the error is not about a frame. */
  seq?: number;
  code: HubErrorCode;
  message: string;
}

export interface DroppedMessage {
  type: typeof ServerMessageType.dropped;
  seq: number;
  reason?: string;
}

export interface PongMessage {
  type: typeof ServerMessageType.pong;
  id?: unknown;
  time?: number;
}

/** Sent to watchers when the watched session ends (its tab closed or reconnected). */
export interface EndedMessage {
  type: typeof ServerMessageType.ended;
  session?: string;
}

/** The session's model from now on, after `options` with a `model` (at most one result of the old one may follow). */
export interface ModelSetMessage {
  type: typeof ServerMessageType.model;
  model: string;
  version: number;
  /** The reference as the page sent it. */
  requested: string;
}

export type ServerMessage =
  | WelcomeMessage
  | ResultMessage
  | ErrorMessage
  | DroppedMessage
  | PongMessage
  | EndedMessage
  | ModelSetMessage;

/** A frame for clients that cannot send binary messages. */
export interface FrameControl {
  type: typeof ControlMessageType.frame;
  /** Base64 of a JPEG, PNG, WebP or BMP. */
  image: string;
}

/** From now on: labels per result and/or the model (`name` or `name@version`); at least one of them. */
export interface OptionsControl {
  type: typeof ControlMessageType.options;
  topK?: number;
  model?: string;
}

/** What an options message sets: at least one of the two. */
export type Options = { topK: number; model?: string } | { topK?: number; model: string };

/** Answered by `pong` with the same id. */
export interface PingControl {
  type: typeof ControlMessageType.ping;
  id?: number | string;
}

export type ControlMessage = FrameControl | OptionsControl | PingControl;

export const frameControl = (image: string): FrameControl => ({ type: ControlMessageType.frame, image });
export const optionsControl = ({ topK, model }: Options): OptionsControl => ({
  type: ControlMessageType.options,
  ...(topK !== undefined ? { topK } : {}),
  ...(model !== undefined ? { model } : {}),
});
export const pingControl = (id?: number | string): PingControl =>
  id === undefined ? { type: ControlMessageType.ping } : { type: ControlMessageType.ping, id };

/** The text of one control message. */
export function encodeControl(message: ControlMessage): string {
  return JSON.stringify(message);
}

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
    case ServerMessageType.welcome:
      // The hub sends every field the contract requires; only the session is
      // checked, so a welcome of a hub older than a field still connects
      // (compareProtocol says 'unknown'), and readers check what they read.
      return typeof v.session === 'string' ? (v as unknown as WelcomeMessage) : null;
    case ServerMessageType.result:
      if (!Array.isArray(v.predictions) || !v.predictions.every(isPrediction)) return null;
      return { ...(v as unknown as ResultMessage), seq: typeof v.seq === 'number' ? v.seq : 0 };
    case ServerMessageType.error:
      return {
        type: ServerMessageType.error,
        seq: typeof v.seq === 'number' ? v.seq : undefined,
        code: typeof v.code === 'string' ? v.code : ErrorCode.internal,
        message: typeof v.message === 'string' ? v.message : '',
      };
    case ServerMessageType.dropped:
      return typeof v.seq === 'number' ? (v as unknown as DroppedMessage) : null;
    case ServerMessageType.pong:
      return v as unknown as PongMessage;
    case ServerMessageType.ended:
      return { type: ServerMessageType.ended, ...(typeof v.session === 'string' ? { session: v.session } : {}) };
    case ServerMessageType.model:
      if (typeof v.model !== 'string' || typeof v.version !== 'number' || typeof v.requested !== 'string') return null;
      return { type: ServerMessageType.model, model: v.model, version: v.version, requested: v.requested };
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
    ? `?${WsQuery.watch}=${encodeURIComponent(watch)}`
    : resume
      ? `?${WsQuery.resume}=${encodeURIComponent(resume)}`
      : '';
  return `${scheme}://${loc.host}${WS_PATH}${query}`;
}

/** The page's own link that watches `session`. */
export function watchHref(session: string): string {
  return `/?${WsQuery.watch}=${encodeURIComponent(session)}`;
}
