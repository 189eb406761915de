// The page against the wire contract, docs/asyncapi.yaml: (a) every name in
// contract.ts equals the document's, both ways, and (b) every example of the
// WebSocket messages validates against its schema and round-trips through the
// page's own decoder (hub -> page) or encoders (page -> hub).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Ajv from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  BEARER_PROTOCOL_PREFIX,
  CloseCode,
  ControlMessageType,
  DroppedReason,
  LABEL_SYNONYM_SEPARATOR,
  ERROR_HTTP_STATUS,
  ErrorCode,
  MODEL_NAME_PATTERN,
  MODEL_REF_PATTERN,
  MODEL_REF_VERSION_SEPARATOR,
  ModelTask,
  NO_ANSWER_CLOSE_CODE,
  PROTOCOL_VERSION,
  ServerMessageType,
  WS_PATH,
  WS_SUBPROTOCOL,
  RESUME_PROTOCOL_PREFIX,
  WsQuery,
  compareProtocol,
  encodeControl,
  errorCodeForStatus,
  frameControl,
  hubSocketUrl,
  isErrorCode,
  modelRef,
  optionsControl,
  parseServerMessage,
  pingControl,
  type ControlMessage,
  type ModelSummary,
  type WelcomeMessage,
  watchHref,
} from './contract';

/** The keys of T that are not optional. */
type RequiredKeys<T> = { [K in keyof T]-?: object extends Pick<T, K> ? never : K }[keyof T];
// Exactly the required keys of WelcomeMessage (the compiler rejects a key
// missing or extra); the test compares them with the Welcome schema's.
const welcomeRequired: { [K in RequiredKeys<WelcomeMessage>]: true } = {
  type: true,
  session: true,
  protocol: true,
  maxFrameBytes: true,
  framesInFlight: true,
  frameTimeoutMs: true,
  recording: true,
  models: true,
};

const docPath = fileURLToPath(new URL('../../../docs/asyncapi.yaml', import.meta.url));
const doc: unknown = parse(readFileSync(docPath, 'utf8'));

type Json = Record<string, unknown>;

function isJson(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The value at `path` in the document; fails the test when it is missing. */
function at(...path: string[]): unknown {
  let v: unknown = doc;
  for (const key of path) {
    if (!isJson(v) || !(key in v)) throw new Error(`docs/asyncapi.yaml has no ${path.join('.')}`);
    v = v[key];
  }
  return v;
}

function obj(...path: string[]): Json {
  const v = at(...path);
  if (!isJson(v)) throw new Error(`${path.join('.')} is not a mapping`);
  return v;
}

function list(...path: string[]): unknown[] {
  const v = at(...path);
  if (!Array.isArray(v)) throw new Error(`${path.join('.')} is not a list`);
  return v;
}

/** '#/components/messages/welcome' -> 'welcome' (the last token of a local $ref). */
function refName(ref: unknown): string {
  if (!isJson(ref) || typeof ref.$ref !== 'string') throw new Error(`not a $ref: ${JSON.stringify(ref)}`);
  const name = ref.$ref.split('/').pop();
  if (!name) throw new Error(`empty $ref: ${ref.$ref}`);
  return name;
}

/** The names (components.messages keys) of the messages of the WebSocket operations with this action. */
function wsMessages(action: 'send' | 'receive'): string[] {
  const names: string[] = [];
  for (const op of Object.values(obj('operations'))) {
    if (!isJson(op) || op.action !== action || refName(op.channel) !== 'ws') continue;
    if (!Array.isArray(op.messages)) continue;
    // '#/channels/ws/messages/X' -> channels.ws.messages.X -> '#/components/messages/Y'
    for (const m of op.messages) names.push(refName(obj('channels', 'ws', 'messages', refName(m))));
  }
  return names;
}

/** The schema name of a message's JSON payload, or null for a binary one. */
function payloadSchema(message: string): string | null {
  const payload = obj('components', 'messages', message, 'payload');
  return typeof payload.$ref === 'string' ? refName(payload) : null;
}

function typeConst(message: string): string {
  const schema = payloadSchema(message);
  if (!schema) throw new Error(`${message} has no JSON payload`);
  const v = at('components', 'schemas', schema, 'properties', 'type', 'const');
  if (typeof v !== 'string') throw new Error(`${schema}.properties.type.const is not a string`);
  return v;
}

const sortedValues = (o: Record<string, string>) => Object.values(o).sort();

const serverMessages = wsMessages('send');
// Binary frames are not JSON messages: they have no `type`.
const controlMessages = wsMessages('receive').filter((m) => payloadSchema(m) !== null);

describe('contract.ts equals docs/asyncapi.yaml', () => {
  it('has the protocol version, the /ws path and its query parameters', () => {
    expect(PROTOCOL_VERSION).toBe(at('x-protocol-version'));
    expect(PROTOCOL_VERSION).toBe(at('components', 'schemas', 'Welcome', 'properties', 'protocol', 'const'));
    expect(WS_PATH).toBe(at('channels', 'ws', 'address'));
    expect(WS_SUBPROTOCOL).toBe(at('x-ws-subprotocol'));
    expect(RESUME_PROTOCOL_PREFIX).toBe(at('x-ws-resume-protocol-prefix'));
    expect(BEARER_PROTOCOL_PREFIX).toBe(at('x-ws-bearer-protocol-prefix'));
    expect(sortedValues(WsQuery)).toEqual(Object.keys(obj('channels', 'ws', 'bindings', 'ws', 'query', 'properties')).sort());
    for (const [key, name] of Object.entries(WsQuery)) expect(key).toBe(name);
  });

  it('reads from the welcome whether the hub records the connection', () => {
    expect(at('components', 'schemas', 'Welcome', 'properties', 'recording', 'type')).toBe('boolean');
    const examples = list('components', 'messages', 'welcome', 'examples');
    expect(examples.length).toBeGreaterThan(0);
    const recording = examples.map((e) => {
      const m = parseServerMessage(JSON.stringify((e as { payload: unknown }).payload));
      return m?.type === ServerMessageType.welcome ? m.recording : undefined;
    });
    expect(recording).toEqual(examples.map((e) => (e as { payload: { recording: boolean } }).payload.recording));
    expect(recording.every((r) => typeof r === 'boolean')).toBe(true);
  });

  it('types as required the welcome fields the contract requires', () => {
    expect(Object.keys(welcomeRequired).sort()).toEqual(list('components', 'schemas', 'Welcome', 'required').map(String).sort());
  });

  it('has the separator of the synonyms in a label', () => {
    expect(LABEL_SYNONYM_SEPARATOR).toBe(at('x-label-synonym-separator'));
  });

  it('has the type of every WebSocket message, hub -> page and page -> hub', () => {
    expect(serverMessages.length).toBeGreaterThan(0);
    expect(controlMessages.length).toBeGreaterThan(0);
    expect(sortedValues(ServerMessageType)).toEqual(serverMessages.map(typeConst).sort());
    expect(sortedValues(ControlMessageType)).toEqual(controlMessages.map(typeConst).sort());
  });

  it('has every error code with its HTTP status', () => {
    const table = obj('x-error-codes');
    expect(sortedValues(ErrorCode)).toEqual(Object.keys(table).sort());
    expect(sortedValues(ErrorCode)).toEqual([...list('components', 'schemas', 'ErrorCode', 'enum')].sort());
    for (const code of Object.values(ErrorCode)) {
      expect(ERROR_HTTP_STATUS[code], code).toBe(obj('x-error-codes', code).httpStatus);
    }
  });

  it('has every close code with its name and whether to reconnect', () => {
    const fromDoc = Object.entries(obj('x-close-codes')).map(([code, info]) => ({
      code: Number(code),
      name: isJson(info) ? info.name : undefined,
      reconnect: isJson(info) ? info.reconnect : undefined,
    }));
    const mine = Object.entries(CloseCode).map(([name, c]) => ({ code: c.code, name, reconnect: c.reconnect }));
    const byCode = (a: { code: number }, b: { code: number }) => a.code - b.code;
    expect(mine.sort(byCode)).toEqual(fromDoc.sort(byCode));
    // The page's own close code is in the private range and means nothing else.
    expect(NO_ANSWER_CLOSE_CODE).toBeGreaterThanOrEqual(4000);
    expect(fromDoc.map((c) => c.code)).not.toContain(NO_ANSWER_CLOSE_CODE);
  });

  it('has the models: name and reference patterns, tasks, and the fields of a model summary', () => {
    expect(MODEL_NAME_PATTERN.source).toBe(at('components', 'schemas', 'ModelName', 'pattern'));
    expect(MODEL_REF_PATTERN.source).toBe(at('components', 'schemas', 'ModelRef', 'pattern'));
    expect(MODEL_REF_VERSION_SEPARATOR).toBe(at('x-model-ref-version-separator'));
    expect(sortedValues(ModelTask)).toEqual([...list('components', 'schemas', 'ModelTask', 'enum')].sort());
    expect(modelRef('mobilenet_v2', 1)).toMatch(MODEL_REF_PATTERN);
    expect('mobilenet_v2@0').not.toMatch(MODEL_REF_PATTERN);
    expect('a.b').not.toMatch(MODEL_REF_PATTERN);
    // The welcome's `model` is a reference with its version.
    expect(modelRef('mobilenet_v2', 1)).toMatch(
      new RegExp(String(at('components', 'schemas', 'Welcome', 'properties', 'model', 'pattern'))),
    );
    // Every field of ModelSummary the page types is the document's, and all are required there.
    const summary: Record<keyof ModelSummary, true> = {
      name: true,
      versions: true,
      defaultVersion: true,
      displayName: true,
      description: true,
      classes: true,
      task: true,
    };
    expect(Object.keys(summary).sort()).toEqual(Object.keys(obj('components', 'schemas', 'ModelSummary', 'properties')).sort());
    expect(Object.keys(summary).sort()).toEqual([...list('components', 'schemas', 'ModelSummary', 'required')].sort());
  });

  it('reads the model codes first by their own status, never in place of older codes', () => {
    // errorCodeForStatus gives the first code of a status: 404 and 503 keep their older meaning.
    expect(errorCodeForStatus(404)).toBe(ErrorCode.unknownSession);
    expect(errorCodeForStatus(503)).toBe(ErrorCode.unavailable);
    expect(ERROR_HTTP_STATUS[ErrorCode.unknownModel]).toBe(404);
    expect(ERROR_HTTP_STATUS[ErrorCode.modelUnavailable]).toBe(503);
    expect(Object.keys(obj('x-error-codes')).at(-1)).toBe(ErrorCode.internal);
  });

  it('has every dropped reason', () => {
    expect(sortedValues(DroppedReason)).toEqual([...list('components', 'schemas', 'DroppedReason', 'enum')].sort());
  });
});

describe('examples of the WebSocket messages', () => {
  const ajv = new Ajv({ strict: false, allErrors: true });
  const docId = 'asyncapi.yaml';
  ajv.addSchema({ ...obj(), $id: docId });

  function examples(message: string): unknown[] {
    const all = list('components', 'messages', message, 'examples').map((e) => (isJson(e) ? e.payload : undefined));
    expect(all.length, `${message} has examples`).toBeGreaterThan(0);
    return all;
  }

  function validate(message: string, payload: unknown): void {
    const schema = payloadSchema(message);
    const check = ajv.compile({ $ref: `${docId}#/components/schemas/${schema}` });
    expect(check(payload), `${message} example ${JSON.stringify(payload)}: ${ajv.errorsText(check.errors)}`).toBe(true);
  }

  it.each(serverMessages)('%s validates and parses back to itself', (message) => {
    for (const payload of examples(message)) {
      validate(message, payload);
      expect(parseServerMessage(JSON.stringify(payload))).toEqual(payload);
    }
  });

  /** The page's encoder for a control message of the document, built from its fields. */
  function encodeFromFields(payload: Json): ControlMessage {
    const { type, image, topK, model, id } = payload;
    switch (type) {
      case ControlMessageType.frame:
        if (typeof image !== 'string') throw new Error('frame without image');
        return frameControl(image);
      case ControlMessageType.options:
        if (typeof topK === 'number' && typeof model === 'string') return optionsControl({ topK, model });
        if (typeof topK === 'number' && model === undefined) return optionsControl({ topK });
        if (typeof model === 'string' && topK === undefined) return optionsControl({ model });
        throw new Error('options without topK or model');
      case ControlMessageType.ping:
        if (id !== undefined && typeof id !== 'number' && typeof id !== 'string') throw new Error('ping id');
        return pingControl(id);
      default:
        throw new Error(`no encoder for ${String(type)}`);
    }
  }

  it.each(controlMessages)('%s validates, and the page encodes the same message', (message) => {
    for (const payload of examples(message)) {
      validate(message, payload);
      if (!isJson(payload)) throw new Error(`${message} example is not an object`);
      const encoded = encodeControl(encodeFromFields(payload));
      validate(message, JSON.parse(encoded));
      expect(JSON.parse(encoded)).toEqual(payload);
    }
  });

  it('rejects what the schemas forbid (the validator is really checking)', () => {
    const check = ajv.compile({ $ref: `${docId}#/components/schemas/Error` });
    expect(check({ type: 'error', code: 'no_such_code', message: 'm' })).toBe(false);
    expect(check({ type: 'result', code: ErrorCode.internal, message: 'm' })).toBe(false);
    // options needs topK or model; a model reference has the contract's shape.
    const options = ajv.compile({ $ref: `${docId}#/components/schemas/OptionsControl` });
    expect(options({ type: ControlMessageType.options })).toBe(false);
    expect(options({ type: ControlMessageType.options, model: 'a.b' })).toBe(false);
    expect(options({ type: ControlMessageType.options, model: 'a@0' })).toBe(false);
    expect(options(JSON.parse(encodeControl(optionsControl({ model: modelRef('mobilenet_v2', 3) }))))).toBe(true);
  });
});

// contract.ts's own helpers: the /ws URL, error codes, the decoder, the
// protocol check.


describe('hubSocketUrl', () => {
  it('uses the page origin and the matching scheme', () => {
    expect(hubSocketUrl({ protocol: 'http:', host: 'localhost:8080' })).toBe('ws://localhost:8080/ws');
    expect(hubSocketUrl({ protocol: 'https:', host: 'hub.example' })).toBe('wss://hub.example/ws');
    expect(hubSocketUrl({ protocol: 'http:', host: 'h:1' }, 'a b/c')).toBe('ws://h:1/ws?watch=a%20b%2Fc');
    expect(hubSocketUrl({ protocol: 'http:', host: 'h:1' }, null, 'sess-1')).toBe('ws://h:1/ws?resume=sess-1');
    expect(hubSocketUrl({ protocol: 'http:', host: 'h:1' }, 'w', 'sess-1')).toBe('ws://h:1/ws?watch=w');
  });
});

describe('watchHref', () => {
  it('links to the page with the session to watch', () => {
    expect(watchHref('a b/c')).toBe('/?watch=a%20b%2Fc');
  });
});

describe('error codes', () => {
  it('knows the documented codes and the code of each API status', () => {
    expect(isErrorCode('timeout')).toBe(true);
    expect(isErrorCode('toString')).toBe(false);
    expect(isErrorCode(504)).toBe(false);
    expect(errorCodeForStatus(503)).toBe(ErrorCode.unavailable);
    expect(errorCodeForStatus(400)).toBe(ErrorCode.badImage);
    expect(errorCodeForStatus(418)).toBeNull();
  });
});

describe('parseServerMessage', () => {
  it('parses the hub messages', () => {
    expect(parseServerMessage('{"type":"welcome","session":"s","framesInFlight":2}')).toMatchObject({
      type: 'welcome',
      session: 's',
      framesInFlight: 2,
    });
    expect(
      parseServerMessage(
        '{"type":"result","seq":3,"predictions":[{"label":"Egyptian cat","index":285,"confidence":0.8}],"timing":{"infer_ms":9.8}}',
      ),
    ).toMatchObject({ type: 'result', seq: 3, predictions: [{ label: 'Egyptian cat' }] });
    expect(parseServerMessage('{"type":"error","seq":4,"code":"timeout","message":"m"}')).toEqual({
      type: 'error',
      seq: 4,
      code: 'timeout',
      message: 'm',
    });
    expect(parseServerMessage('{"type":"error","code":"bad_request","message":"m"}')).toMatchObject({ seq: undefined });
    expect(parseServerMessage('{"type":"dropped","seq":5,"reason":"superseded"}')).toMatchObject({ seq: 5 });
    expect(parseServerMessage('{"type":"pong","id":1,"time":5}')).toMatchObject({ type: 'pong' });
  });

  it('rejects malformed ones', () => {
    expect(parseServerMessage('')).toBeNull();
    expect(parseServerMessage('null')).toBeNull();
    expect(parseServerMessage('{"type":"welcome"}')).toBeNull();
    expect(parseServerMessage('{"type":"result","seq":1,"predictions":[{"label":1}]}')).toBeNull();
    expect(parseServerMessage('{"type":"dropped"}')).toBeNull();
    expect(parseServerMessage('{"type":"other"}')).toBeNull();
  });
});

describe('compareProtocol', () => {
  it('tells the hub’s protocol from the page’s', () => {
    expect(compareProtocol(PROTOCOL_VERSION)).toBe('same');
    expect(compareProtocol(2, 1)).toBe('hub-newer');
    expect(compareProtocol(1, 2)).toBe('hub-older');
    expect(compareProtocol(undefined)).toBe('unknown');
    expect(compareProtocol('1')).toBe('unknown');
    expect(compareProtocol(1.5, 1)).toBe('unknown');
  });
});
