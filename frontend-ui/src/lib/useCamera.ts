// Owns the camera: getUserMedia, the list of cameras, and the errors a person
// has to act on.

import { useCallback, useEffect, useRef, useState } from 'react';

export type CameraProblem = 'denied' | 'no-camera' | 'busy' | 'insecure' | 'unknown';

export type CameraStatus =
  | { kind: 'idle' }
  | { kind: 'starting' }
  | { kind: 'ready' }
  | { kind: 'error'; problem: CameraProblem; detail: string };

export interface CameraDevice {
  deviceId: string;
  label: string;
}

export function classifyCameraError(err: unknown): CameraProblem {
  const name = err instanceof Error || (typeof err === 'object' && err !== null && 'name' in err)
    ? String((err as { name?: unknown }).name)
    : '';
  switch (name) {
    case 'NotAllowedError':
    case 'PermissionDeniedError':
    case 'SecurityError':
      return 'denied';
    case 'NotFoundError':
    case 'DevicesNotFoundError':
    case 'OverconstrainedError':
      return 'no-camera';
    case 'NotReadableError':
    case 'TrackStartError':
    case 'AbortError':
      return 'busy';
    default:
      return 'unknown';
  }
}

export function useCamera(enabled: boolean) {
  const [status, setStatus] = useState<CameraStatus>({ kind: 'idle' });
  const [stream, setStream] = useState<MediaStream | null>(null);
  const [devices, setDevices] = useState<CameraDevice[]>([]);
  // The camera asked for (drives getUserMedia) and the one actually in use.
  const [requested, setRequested] = useState<string | null>(null);
  const [active, setActive] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  const streamRef = useRef<MediaStream | null>(null);

  const retry = useCallback(() => setAttempt((a) => a + 1), []);

  useEffect(() => {
    if (!enabled) return;
    let cancelled = false;
    const md = typeof navigator !== 'undefined' ? navigator.mediaDevices : undefined;
    if (!md?.getUserMedia) {
      setStatus({
        kind: 'error',
        problem: window.isSecureContext ? 'no-camera' : 'insecure',
        detail: 'navigator.mediaDevices is not available',
      });
      return;
    }
    setStatus({ kind: 'starting' });
    const video: MediaTrackConstraints = requested
      ? { deviceId: { exact: requested }, width: { ideal: 640 }, height: { ideal: 480 } }
      : { facingMode: 'environment', width: { ideal: 640 }, height: { ideal: 480 } };
    md.getUserMedia({ video, audio: false })
      .then(async (s) => {
        if (cancelled) {
          s.getTracks().forEach((t) => t.stop());
          return;
        }
        streamRef.current?.getTracks().forEach((t) => t.stop());
        streamRef.current = s;
        setStream(s);
        setStatus({ kind: 'ready' });
        try {
          const all = await md.enumerateDevices();
          if (cancelled) return;
          const cams = all
            .filter((d) => d.kind === 'videoinput')
            .map((d, i) => ({ deviceId: d.deviceId, label: d.label || `Camera ${i + 1}` }));
          setDevices(cams);
          setActive(s.getVideoTracks()[0]?.getSettings().deviceId ?? requested);
        } catch {
          setDevices([]);
        }
      })
      .catch((err: unknown) => {
        if (cancelled) return;
        setStatus({ kind: 'error', problem: classifyCameraError(err), detail: String(err) });
      });
    return () => {
      cancelled = true;
    };
    // A new requested camera restarts the stream; attempt is the retry button.
  }, [enabled, requested, attempt]);

  // Stop the camera when the component goes away or the camera is disabled.
  useEffect(() => {
    if (enabled) return;
    streamRef.current?.getTracks().forEach((t) => t.stop());
    streamRef.current = null;
    setStream(null);
    setStatus({ kind: 'idle' });
  }, [enabled]);
  useEffect(
    () => () => {
      streamRef.current?.getTracks().forEach((t) => t.stop());
      streamRef.current = null;
    },
    [],
  );

  return { status, stream, devices, deviceId: active, selectDevice: setRequested, retry };
}
