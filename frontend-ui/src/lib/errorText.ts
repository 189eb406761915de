// What a person reads for each error code of the hub, in one place: the live
// view, the watch view and the upload card say different things only where
// what to do differs (a stream recovers by itself; an upload is tried again).
import { ErrorCode, isErrorCode, type HubErrorCode } from './contract';

export type ErrorSeverity = 'info' | 'warning' | 'error';

export interface ErrorText {
  severity: ErrorSeverity;
  title: string;
  body: string;
}

/** Where the error is shown. */
export type ErrorSurface = 'live' | 'watch' | 'upload';

const IMAGE_FORMATS = 'JPEG, PNG, WebP or BMP';
const START_WORKER = 'Start a worker (python -m inference_server, or make run)';
const HUB_PROBLEM = 'The hub ran into a problem';

/** Title of every "the page cannot reach the hub" message (the connection alert and the upload card). */
export const HUB_UNREACHABLE_TITLE = 'Can’t reach the hub';

interface CodeText {
  /** The stream's text (live view, and watch view unless `watch` says otherwise). */
  live: ErrorText;
  watch?: ErrorText;
  /** The upload card's text; codes without one show internal's. */
  upload?: Omit<ErrorText, 'severity'>;
}

const unreadableUpload = { title: 'That file could not be read as an image', body: `Choose a ${IMAGE_FORMATS} photo.` };

const byCode: Readonly<Record<ErrorCode, CodeText>> = {
  [ErrorCode.unavailable]: {
    live: {
      severity: 'warning',
      title: 'No classifier worker is answering',
      body: `The hub is up, but no inference worker replied. ${START_WORKER}; frames are classified again as soon as one is back.`,
    },
    upload: { title: 'No classifier worker is answering', body: `${START_WORKER} and try again.` },
  },
  [ErrorCode.timeout]: {
    live: {
      severity: 'warning',
      title: 'The workers are too slow right now',
      body: 'A frame was not classified within the hub’s deadline and was given up. The page sends fewer frames by itself; if this persists, add a worker.',
    },
    upload: { title: 'The worker took too long', body: 'The workers are busy; try again in a moment.' },
  },
  [ErrorCode.badImage]: {
    live: {
      severity: 'error',
      title: 'The hub could not read a frame',
      body: `The image sent was not a readable ${IMAGE_FORMATS}. Try another camera, or reload the page.`,
    },
    upload: unreadableUpload,
  },
  [ErrorCode.tooLarge]: {
    live: {
      severity: 'error',
      title: 'Frame too large',
      body: 'The hub refused a frame as too large. Reload the page; if it persists, the hub’s size limit is set too low.',
    },
    upload: { title: 'The image is too large', body: 'Choose a smaller image (or resize it) and try again.' },
  },
  [ErrorCode.rateLimited]: {
    live: {
      severity: 'info',
      title: 'Sending too fast',
      body: 'The hub asked this page to slow down. It does so by itself; nothing to do.',
    },
    upload: { title: 'Too many requests', body: 'Wait a moment and try again.' },
  },
  [ErrorCode.unknownSession]: {
    live: {
      severity: 'error',
      title: 'There is no live session with that id',
      body: 'The link may be old: a session id changes whenever the streaming tab reconnects. Ask for a fresh “Watch this session” link, or start your own camera.',
    },
  },
  [ErrorCode.badRequest]: {
    live: {
      severity: 'error',
      title: 'The hub did not understand a message',
      body: 'Reload the page; if it persists, the page and the hub may be of different versions.',
    },
    watch: {
      severity: 'error',
      title: 'The watch link is not valid',
      body: 'Check the session id in the address, or ask for a fresh “Watch this session” link.',
    },
    // The upload card sends well-formed requests: a 400 is about the file.
    upload: unreadableUpload,
  },
  [ErrorCode.unsupportedMediaType]: {
    live: {
      severity: 'error',
      title: 'The hub did not understand a request',
      body: 'Reload the page; if it persists, the page and the hub may be of different versions.',
    },
  },
  [ErrorCode.unauthorized]: {
    live: {
      severity: 'error',
      title: 'This hub needs an API key',
      body: 'The hub lets in only clients with an API key or token. Enter one to start the camera; ask whoever runs the hub for a key.',
    },
    upload: { title: 'This hub needs an API key', body: 'Enter the key when the page asks for it, then try again.' },
  },
  [ErrorCode.unknownModel]: {
    live: {
      severity: 'error',
      title: 'No such model',
      body: 'No worker serves a model of that name. Pick one of the models the hub lists.',
    },
    upload: { title: 'No such model', body: 'No worker serves a model of that name; pick another model and try again.' },
  },
  [ErrorCode.modelUnavailable]: {
    live: {
      severity: 'warning',
      title: 'That model is not being served right now',
      body: 'No worker serves that model at the moment, so the stream keeps its model. Try again later, or pick another model.',
    },
    upload: { title: 'That model is not being served right now', body: 'Try again later, or pick another model.' },
  },
  [ErrorCode.modelForbidden]: {
    live: {
      severity: 'error',
      title: 'Your key does not allow that model',
      body: 'The key or token this page uses may only use some models, and not that one. Pick one of the models listed.',
    },
    upload: { title: 'Your key does not allow that model', body: 'Pick one of the models listed and try again.' },
  },
  [ErrorCode.internal]: {
    live: {
      severity: 'error',
      title: HUB_PROBLEM,
      body: 'Something went wrong in the hub (it is logged there). The page keeps trying; reload if it persists.',
    },
    upload: { title: HUB_PROBLEM, body: 'Try again; if it persists, check the hub’s logs.' },
  },
};

/** The text for `code` on `surface`; codes the page does not know read as internal. */
export function errorText(code: HubErrorCode, surface: ErrorSurface): ErrorText {
  const text = byCode[isErrorCode(code) ? code : ErrorCode.internal];
  if (surface === 'watch') return text.watch ?? text.live;
  if (surface === 'live') return text.live;
  return { severity: 'error', ...(text.upload ?? byCode[ErrorCode.internal].upload ?? text.live) };
}

/** The upload card's text when the hub did not answer at all. */
export const unreachableUploadText: ErrorText = {
  severity: 'error',
  title: HUB_UNREACHABLE_TITLE,
  body: 'Check that the hub is running, then try again.',
};
