// The states a person must understand, each an Alert saying what to do.
import { useEffect, useState } from 'react';
import Alert from '@mui/material/Alert';
import AlertTitle from '@mui/material/AlertTitle';
import Button from '@mui/material/Button';
import Chip from '@mui/material/Chip';
import Box from '@mui/material/Box';
import type { ConnectionState } from '../lib/hubClient';
import { HUB_UNREACHABLE_TITLE, errorText } from '../lib/errorText';
import { shallowEqual, useHubActions, useHubSelector } from '../lib/hubContext';
import type { HubSnapshot } from '../lib/hubStore';
import { PROTOCOL_VERSION, compareProtocol, type ErrorMessage } from '../lib/contract';
import type { CameraProblem } from '../lib/useCamera';

/** Seconds left until `deadline` (performance.now() based), ticking every second. */
function useCountdown(retryInMs: number | null): number | null {
  const [deadline, setDeadline] = useState<number | null>(null);
  const [now, setNow] = useState(0);
  useEffect(() => {
    if (retryInMs === null) {
      setDeadline(null);
      return;
    }
    const start = performance.now();
    setDeadline(start + retryInMs);
    setNow(start);
    const t = setInterval(() => setNow(performance.now()), 250);
    return () => clearInterval(t);
  }, [retryInMs]);
  if (deadline === null) return null;
  return Math.max(0, Math.ceil((deadline - now) / 1000));
}

const chipText: Record<ConnectionState, string> = {
  idle: 'Hub connecting…',
  connecting: 'Hub connecting…',
  connected: 'Hub connected',
  reconnecting: 'Hub disconnected · reconnecting…',
  closed: 'Hub disconnected',
};

const selectConnection = (s: HubSnapshot) => s.connection;

/** The connection state in the app bar (data-testid="connection-status"). */
export function ConnectionChip() {
  const state = useHubSelector(selectConnection);
  const color: Record<ConnectionState, string> = {
    idle: '#9aa3b5',
    connecting: '#9aa3b5',
    connected: '#1e9e5a',
    reconnecting: '#e0912b',
    closed: '#d14343',
  };
  return (
    <Chip
      data-testid="connection-status"
      data-state={state}
      variant="outlined"
      size="small"
      role="status"
      icon={
        <Box
          component="span"
          aria-hidden="true"
          sx={{ width: 8, height: 8, borderRadius: '50%', bgcolor: color[state], ml: '8px !important' }}
        />
      }
      label={chipText[state]}
      sx={{ fontWeight: 500, bgcolor: 'background.paper', maxWidth: { xs: 170, sm: 'none' } }}
    />
  );
}

const selectReconnect = (s: HubSnapshot) => ({
  state: s.connection,
  retryInMs: s.retryInMs,
  everConnected: s.everConnected,
});

/** While reconnecting: whether the hub was ever reached, and when the next try is. */
export function ConnectionAlert() {
  const { state, retryInMs, everConnected } = useHubSelector(selectReconnect, shallowEqual);
  const { reconnectNow: onRetry } = useHubActions();
  const seconds = useCountdown(state === 'reconnecting' ? retryInMs : null);
  // "closed" means the page stopped on purpose (or the hub said retrying cannot
  // help, e.g. an unknown watched session, which its own error explains).
  if (state !== 'reconnecting') return null;
  const when =
    seconds === null ? 'Trying to reconnect now…' : seconds > 0 ? `Next try in ${seconds} s.` : 'Trying to reconnect now…';
  const action = (
    <Button color="inherit" size="small" onClick={onRetry} disabled={seconds === null || seconds === 0}>
      Retry now
    </Button>
  );
  if (!everConnected) {
    return (
      <Alert severity="error" action={action} data-testid="alert-hub-unreachable">
        <AlertTitle>{HUB_UNREACHABLE_TITLE}</AlertTitle>
        The page could not open its connection to the hub. Check that the hub is running and reachable at this address.{' '}
        {when}
      </Alert>
    );
  }
  return (
    <Alert severity="warning" action={action} data-testid="alert-hub-disconnected">
      <AlertTitle>Connection to the hub lost — reconnecting</AlertTitle>
      Labels will resume by themselves once the hub is back. {when}
    </Alert>
  );
}

const selectHubProtocol = (s: HubSnapshot) => s.hubProtocol;

/**
 * When the hub speaks another protocol version than this page
 * (welcome.protocol): messages may be misread, so say so plainly and what to do.
 */
export function ProtocolAlert() {
  const hubProtocol = useHubSelector(selectHubProtocol);
  const match = compareProtocol(hubProtocol);
  if (match === 'same' || match === 'unknown') return null;
  return (
    <Alert severity="warning" data-testid="alert-protocol-mismatch" data-hub-protocol={hubProtocol ?? undefined}>
      <AlertTitle>This page and the hub speak different protocol versions</AlertTitle>
      The page speaks version {PROTOCOL_VERSION}, the hub version {hubProtocol}.{' '}
      {match === 'hub-newer'
        ? 'The hub was updated: reload the page to get the matching version.'
        : 'The hub is older than this page: labels may be missing or wrong until the hub is updated.'}
    </Alert>
  );
}

export function HubErrorAlert({ error, watching, action }: { error: ErrorMessage; watching: boolean; action?: React.ReactNode }) {
  const copy = errorText(error.code, watching ? 'watch' : 'live');
  return (
    <Alert severity={copy.severity} data-testid={`alert-${error.code}`} action={action}>
      <AlertTitle>{copy.title}</AlertTitle>
      {copy.body}
    </Alert>
  );
}

const cameraCopy: Record<CameraProblem, { title: string; body: string }> = {
  denied: {
    title: 'Camera permission denied',
    body: 'Allow camera access for this site (the camera icon in the address bar or the site settings), then press Retry. You can still classify a photo below.',
  },
  'no-camera': {
    title: 'No camera found',
    body: 'Connect a camera (or close the app that holds it) and press Retry. You can still classify a photo below.',
  },
  busy: {
    title: 'The camera is in use or could not start',
    body: 'Close other apps or tabs that use the camera, then press Retry.',
  },
  insecure: {
    title: 'The camera needs a secure page',
    body: 'Browsers only give the camera to pages served over HTTPS or from localhost. Open the hub through HTTPS or localhost.',
  },
  unknown: {
    title: 'The camera could not start',
    body: 'Press Retry; if it keeps failing, try another browser. You can still classify a photo below.',
  },
};

export function CameraAlert({ problem, onRetry }: { problem: CameraProblem; onRetry: () => void }) {
  const copy = cameraCopy[problem];
  return (
    <Alert
      severity={problem === 'busy' ? 'warning' : 'error'}
      data-testid={`alert-camera-${problem}`}
      action={
        problem === 'insecure' ? undefined : (
          <Button color="inherit" size="small" onClick={onRetry}>
            Retry
          </Button>
        )
      }
    >
      <AlertTitle>{copy.title}</AlertTitle>
      {copy.body}
    </Alert>
  );
}
