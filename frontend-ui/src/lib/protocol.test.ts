import { describe, expect, it } from 'vitest';
import { ErrorCode, PROTOCOL_VERSION, compareProtocol, errorCodeForStatus, hubSocketUrl, isErrorCode, parseServerMessage, watchHref } from './protocol';

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
