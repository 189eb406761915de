// Owns the camera: getUserMedia, the list of cameras, the front/back switch
// (facingMode), and the errors a person has to act on.

import { useCallback, useEffect, useRef, useState } from 'react';

export type CameraProblem = 'denied' | 'no-camera' | 'busy' | 'insecure' | 'unknown';

export type CameraStatus =
  | { kind: 'idle' }
  | { kind: 'starting' }
  | { kind: 'ready' }
  | { kind: 'error'; problem: CameraProblem; detail: string };

/** Front (selfie) or back camera, as getUserMedia's facingMode names them. */
export type FacingMode = 'user' | 'environment';

export const otherFacing = (f: FacingMode): FacingMode => (f === 'user' ? 'environment' : 'user');

/** The constraints for a camera by id, or else by facing mode (ideal: a laptop with one camera still gets it). */
export function cameraConstraints(deviceId: string | null, facing: FacingMode): MediaTrackConstraints {
  const size = { width: { ideal: 640 }, height: { ideal: 480 } };
  return deviceId ? { deviceId: { exact: deviceId }, ...size } : { facingMode: { ideal: facing }, ...size };
}

/**
 * Mirror the preview (never the frames sent) for a camera facing the person:
 * the one the track reports, or else the one asked for.
 */
export function isMirrored(reported: string | undefined, requestedDevice: string | null, facing: FacingMode): boolean {
  if (reported === 'user' || reported === 'environment') return reported === 'user';
  return requestedDevice === null && facing === 'user';
}

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
  // The back camera first: a phone is pointed at things, not at its owner.
  const [facing, setFacing] = useState<FacingMode>('environment');
  const [reportedFacing, setReportedFacing] = useState<string | undefined>(undefined);
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
    // Release the camera in use first: many phones cannot open the second one while the first is open.
    if (streamRef.current) {
      streamRef.current.getTracks().forEach((t) => t.stop());
      streamRef.current = null;
      setStream(null);
    }
    const video = cameraConstraints(requested, facing);
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
          const settings = s.getVideoTracks()[0]?.getSettings();
          setActive(settings?.deviceId ?? requested);
          setReportedFacing(settings?.facingMode);
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
    // A new requested camera or facing mode restarts the stream; attempt is the retry button.
  }, [enabled, requested, facing, attempt]);

  /** One tap: the other camera (front ↔ back), by facing mode rather than by id. */
  const switchFacing = useCallback(() => {
    setRequested(null);
    setReportedFacing(undefined);
    setFacing(otherFacing);
  }, []);

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

  return {
    status,
    stream,
    devices,
    deviceId: active,
    selectDevice: setRequested,
    retry,
    facing,
    switchFacing,
    mirrored: isMirrored(reportedFacing, requested, facing),
  };
}
