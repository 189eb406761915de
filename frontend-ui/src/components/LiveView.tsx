import { useCallback, useEffect, useState } from 'react';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Chip from '@mui/material/Chip';
import Divider from '@mui/material/Divider';
import FormControl from '@mui/material/FormControl';
import InputLabel from '@mui/material/InputLabel';
import MenuItem from '@mui/material/MenuItem';
import Select from '@mui/material/Select';
import Snackbar from '@mui/material/Snackbar';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import PauseRounded from '@mui/icons-material/PauseRounded';
import PlayArrowRounded from '@mui/icons-material/PlayArrowRounded';
import VideocamRounded from '@mui/icons-material/VideocamRounded';
import { shallowEqual, useHubActions, useHubSelector } from '../lib/hubContext';
import type { HubSnapshot } from '../lib/hubStore';
import { useCamera } from '../lib/useCamera';
import { useFrameStreamer } from '../lib/useFrameStreamer';
import { Predictions } from './Predictions';
import { StatsRow } from './StatsRow';
import { CameraAlert, HubErrorAlert } from './StatusAlerts';
import { TopLabelAnnouncer } from './TopLabelAnnouncer';
import { SectionCard, TwoColumns, fillBox } from './SectionCard';
import { WatchLink } from './WatchLink';

// LiveView holds the camera and reads only whether the hub reports an error;
// the parts below it select what they show, so a result re-renders the
// labels, not the video.

const selectHasError = (s: HubSnapshot) => s.lastError !== null;

interface Props {
  /** False while rendering on the server and before the page knows its mode. */
  enabled: boolean;
}

export function LiveView({ enabled }: Props) {
  const camera = useCamera(enabled);
  const [video, setVideo] = useState<HTMLVideoElement | null>(null);
  const [aspect, setAspect] = useState('4 / 3');
  const [paused, setPaused] = useState(false);
  const [copied, setCopied] = useState(false);
  const hub = useHubActions();
  const { resetRate } = hub;
  const hasHubError = useHubSelector(selectHasError);

  useEffect(() => {
    if (!video) return;
    video.srcObject = camera.stream;
    if (camera.stream) void video.play().catch(() => undefined);
  }, [video, camera.stream]);

  useFrameStreamer({
    client: hub.client,
    sendFrame: hub.sendFrame,
    video,
    active: enabled && !paused && camera.status.kind === 'ready',
  });

  const togglePause = useCallback(() => {
    setPaused((p) => !p);
    resetRate();
  }, [resetRate]);

  const onCopied = useCallback(() => setCopied(true), []);

  return (
    <SectionCard
      titleId="live-title"
      heading={
        <>
          <Typography variant="h2" id="live-title">
            Live camera
          </Typography>
          <Typography variant="body2" color="text.secondary">
            Point the camera at something: the centre square is classified continuously.
          </Typography>
        </>
      }
      actions={
        <Stack direction="row" spacing={1.5} sx={{ alignItems: 'center', flexShrink: 0 }}>
          {camera.devices.length > 1 ? (
            <FormControl size="small" sx={{ minWidth: 160, maxWidth: 240 }}>
              <InputLabel id="camera-picker-label">Camera</InputLabel>
              <Select
                labelId="camera-picker-label"
                label="Camera"
                value={camera.deviceId ?? ''}
                onChange={(e) => camera.selectDevice(String(e.target.value))}
                data-testid="camera-picker"
              >
                {camera.devices.map((d) => (
                  <MenuItem key={d.deviceId} value={d.deviceId}>
                    {d.label}
                  </MenuItem>
                ))}
              </Select>
            </FormControl>
          ) : null}
          <Button
            variant={paused ? 'contained' : 'outlined'}
            startIcon={paused ? <PlayArrowRounded /> : <PauseRounded />}
            onClick={togglePause}
            aria-pressed={paused}
            disabled={camera.status.kind !== 'ready'}
            data-testid="pause-button"
            sx={{ minWidth: 112 }}
          >
            {paused ? 'Resume' : 'Pause'}
          </Button>
        </Stack>
      }
    >
      <Stack spacing={1.5} sx={{ mb: hasHubError || camera.status.kind === 'error' ? 2.5 : 0 }}>
        {camera.status.kind === 'error' ? <CameraAlert problem={camera.status.problem} onRetry={camera.retry} /> : null}
        <LiveHubError />
      </Stack>

      <TwoColumns>
        <Box
          sx={{
            position: 'relative',
            width: '100%',
            aspectRatio: aspect,
            maxHeight: { xs: '60vh', md: 'none' },
            bgcolor: '#0d1424',
            borderRadius: 2,
            overflow: 'hidden',
          }}
        >
          <Box
            component="video"
            ref={setVideo}
            autoPlay
            muted
            playsInline
            aria-label="Camera preview"
            data-testid="camera-video"
            onLoadedMetadata={(e: React.SyntheticEvent<HTMLVideoElement>) => {
              const v = e.currentTarget;
              if (v.videoWidth && v.videoHeight) setAspect(`${v.videoWidth} / ${v.videoHeight}`);
            }}
            sx={{ ...fillBox, display: 'block' }}
          />
          {camera.status.kind === 'ready' ? (
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
                color: 'rgba(255,255,255,0.75)',
                gap: 1,
              }}
            >
              <VideocamRounded sx={{ fontSize: 48, opacity: 0.7 }} />
              <Typography variant="body2">
                {camera.status.kind === 'error' ? 'Camera unavailable' : 'Starting camera…'}
              </Typography>
            </Stack>
          )}
          {paused ? (
            <Chip
              label="Paused"
              icon={<PauseRounded />}
              sx={{ position: 'absolute', top: 12, left: 12, bgcolor: 'rgba(255,255,255,0.92)', fontWeight: 600 }}
            />
          ) : null}
        </Box>

        <Stack spacing={2.5} sx={{ minWidth: 0 }}>
          <LiveLabels paused={paused} />
          <StatsRow />
          <ResultCaption />
          <Divider />
          <WatchLink onCopied={onCopied} />
        </Stack>
      </TwoColumns>
      <Snackbar
        open={copied}
        autoHideDuration={2500}
        onClose={() => setCopied(false)}
        message="Watch link copied"
        anchorOrigin={{ vertical: 'bottom', horizontal: 'center' }}
      />
    </SectionCard>
  );
}

/** The hub's error for this session, while connected (a lost connection has its own alert). */
function LiveHubError() {
  const error = useHubSelector((s) => (s.connection === 'connected' ? s.lastError : null));
  return error ? <HubErrorAlert error={error} watching={false} /> : null;
}

const selectLabels = (s: HubSnapshot) => ({
  predictions: s.lastResult?.predictions ?? null,
  // Labels from before a lost connection or an error are dimmed.
  outdated: s.connection !== 'connected' || s.lastError !== null,
});

function LiveLabels({ paused }: { paused: boolean }) {
  const { predictions, outdated } = useHubSelector(selectLabels, shallowEqual);
  const top = predictions?.[0]?.label ?? null;
  return (
    <>
      <Predictions
        predictions={predictions}
        topTestId="top-label"
        emptyText={paused ? 'Paused' : 'Waiting for the first result…'}
        stale={paused || outdated}
      />
      <TopLabelAnnouncer label={paused ? null : top} />
    </>
  );
}

const selectLastResult = (s: HubSnapshot) => s.lastResult;

/** The model and inference time of the last result. */
function ResultCaption() {
  const lastResult = useHubSelector(selectLastResult);
  const timing = lastResult?.timing;
  if (!lastResult?.model && timing?.infer_ms === undefined) return null;
  return (
    <Typography variant="caption" color="text.secondary">
      {[
        lastResult?.model ? `Model ${lastResult.model}` : null,
        timing?.infer_ms !== undefined ? `inference ${timing.infer_ms.toFixed(1)} ms` : null,
        timing?.batch ? `batch ${timing.batch}` : null,
      ]
        .filter(Boolean)
        .join(' · ')}
    </Typography>
  );
}
