// The camera's picture: the video (mirrored for a selfie camera: the preview
// only, frames are grabbed from the video element itself), the centre square
// that is classified, and what shows while the camera starts or fails. Its
// box follows the video's real size, which changes when a phone turns.
import { useEffect, useState, type SyntheticEvent } from 'react';
import Box from '@mui/material/Box';
import Chip from '@mui/material/Chip';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import PauseRounded from '@mui/icons-material/PauseRounded';
import VideocamRounded from '@mui/icons-material/VideocamRounded';
import type { CameraStatus, FacingMode } from '../lib/useCamera';
import type { WakeLockState } from '../lib/useWakeLock';
import { fillBox } from './SectionCard';

interface Props {
  stream: MediaStream | null;
  status: CameraStatus;
  facing: FacingMode;
  mirrored: boolean;
  paused: boolean;
  streaming: boolean;
  wakeLock: WakeLockState;
  /** The video element, once mounted (the streamer and the snapshot read it). */
  onVideo: (video: HTMLVideoElement | null) => void;
}

export function CameraPreview({ stream, status, facing, mirrored, paused, streaming, wakeLock, onVideo }: Props) {
  const [video, setVideo] = useState<HTMLVideoElement | null>(null);
  const [size, setSize] = useState<{ w: number; h: number } | null>(null);

  useEffect(() => onVideo(video), [video, onVideo]);

  useEffect(() => {
    if (!video) return;
    video.srcObject = stream;
    if (stream) void video.play().catch(() => undefined);
  }, [video, stream]);

  // loadedmetadata for the first size, resize for every later one (rotation, another camera).
  const onSize = (e: SyntheticEvent<HTMLVideoElement>) => {
    const v = e.currentTarget;
    if (v.videoWidth && v.videoHeight) setSize({ w: v.videoWidth, h: v.videoHeight });
  };

  return (
    <Box
      data-testid="camera-box"
      data-wake-lock={wakeLock}
      data-streaming={streaming ? 'true' : 'false'}
      sx={{
        position: 'relative',
        width: '100%',
        aspectRatio: size ? `${size.w} / ${size.h}` : '4 / 3',
        maxHeight: { xs: '60vh', md: 'none' },
        bgcolor: '#0d1424',
        borderRadius: 2,
        overflow: 'hidden',
      }}
    >
      <Box
        component="video"
        ref={setVideo}
        // iOS plays inline only with playsinline, and autoplays only muted.
        autoPlay
        muted
        playsInline
        aria-label={facing === 'user' ? 'Front camera preview' : 'Camera preview'}
        data-testid="camera-video"
        data-facing={facing}
        data-mirrored={mirrored ? 'true' : 'false'}
        data-stream-id={stream?.id ?? ''}
        data-video-size={size ? `${size.w}x${size.h}` : ''}
        onLoadedMetadata={onSize}
        onResize={onSize}
        sx={{ ...fillBox, display: 'block', transform: mirrored ? 'scaleX(-1)' : 'none' }}
      />
      {status.kind === 'ready' ? (
        <Box
          aria-hidden="true"
          sx={{
            position: 'absolute',
            top: '50%',
            left: '50%',
            height: '100%',
            maxWidth: '100%',
            aspectRatio: '1 / 1',
            transform: 'translate(-50%, -50%)',
            border: '2px solid rgba(255,255,255,0.85)',
            borderRadius: 1.5,
            boxShadow: '0 0 0 9999px rgba(8, 12, 24, 0.38)',
            pointerEvents: 'none',
          }}
        />
      ) : (
        <Stack
          sx={{
            position: 'absolute',
            inset: 0,
            alignItems: 'center',
            justifyContent: 'center',
            color: 'rgba(255,255,255,0.8)',
            gap: 1,
          }}
        >
          <VideocamRounded sx={{ fontSize: 48, opacity: 0.7 }} />
          <Typography variant="body2">{status.kind === 'error' ? 'Camera unavailable' : 'Starting camera…'}</Typography>
        </Stack>
      )}
      {paused ? (
        <Chip
          label="Paused"
          icon={<PauseRounded />}
          // Light on the dark video in both colour schemes.
          sx={{ position: 'absolute', top: 12, left: 12, bgcolor: 'rgba(255,255,255,0.92)', color: '#172033', fontWeight: 600, '& .MuiChip-icon': { color: '#172033' } }}
        />
      ) : null}
    </Box>
  );
}
