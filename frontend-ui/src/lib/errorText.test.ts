import { describe, expect, it } from 'vitest';
import { errorText, unreachableUploadText } from './errorText';
import { ErrorCode } from './contract';

describe('errorText', () => {
  it('has words for every code on every surface', () => {
    for (const code of Object.values(ErrorCode)) {
      for (const surface of ['live', 'watch', 'upload'] as const) {
        const t = errorText(code, surface);
        expect(t.title.length, `${code} ${surface}`).toBeGreaterThan(5);
        expect(t.body.length, `${code} ${surface}`).toBeGreaterThan(10);
      }
    }
    expect(unreachableUploadText.title).toMatch(/reach the hub/);
  });

  it('says the same thing about a missing worker on the live view and the upload card', () => {
    expect(errorText(ErrorCode.unavailable, 'live').title).toBe(errorText(ErrorCode.unavailable, 'upload').title);
    expect(errorText(ErrorCode.unavailable, 'upload').title).toMatch(/worker/);
    expect(errorText(ErrorCode.unavailable, 'live').severity).toBe('warning');
  });

  it('tells a missing model apart from a model that is only down for now', () => {
    expect(errorText(ErrorCode.unknownModel, 'live').title).toMatch(/model/i);
    expect(errorText(ErrorCode.modelUnavailable, 'live').title).toMatch(/model/i);
    expect(errorText(ErrorCode.unknownModel, 'live').title).not.toBe(errorText(ErrorCode.modelUnavailable, 'live').title);
    // The stream keeps its model: a model that is down is a warning, like a missing worker.
    expect(errorText(ErrorCode.modelUnavailable, 'live').severity).toBe('warning');
    expect(errorText(ErrorCode.modelUnavailable, 'upload').body).toMatch(/later|another model/);
    expect(errorText(ErrorCode.unknownModel, 'upload').title).not.toBe(errorText(ErrorCode.internal, 'upload').title);
  });

  it('tells watchers about their link, and reads unknown codes as internal', () => {
    expect(errorText(ErrorCode.badRequest, 'watch').title).toMatch(/watch link/);
    expect(errorText(ErrorCode.badRequest, 'live').title).not.toMatch(/watch link/);
    expect(errorText('something_new', 'live')).toEqual(errorText(ErrorCode.internal, 'live'));
    // The upload card only sends well-formed requests: any 400 is about the file.
    expect(errorText(ErrorCode.badRequest, 'upload')).toEqual(errorText(ErrorCode.badImage, 'upload'));
    expect(errorText(ErrorCode.unknownSession, 'upload')).toEqual(errorText(ErrorCode.internal, 'upload'));
    expect(errorText(ErrorCode.tooLarge, 'upload').severity).toBe('error');
  });
});
