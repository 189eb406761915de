import { useCallback, useEffect, useRef, useState } from 'react';
import Button from '@mui/material/Button';
import Divider from '@mui/material/Divider';
import FormControl from '@mui/material/FormControl';
import FormControlLabel from '@mui/material/FormControlLabel';
import IconButton from '@mui/material/IconButton';
import InputLabel from '@mui/material/InputLabel';
import MenuItem from '@mui/material/MenuItem';
import Select from '@mui/material/Select';
import Snackbar from '@mui/material/Snackbar';
import Stack from '@mui/material/Stack';
import Switch from '@mui/material/Switch';
import Tooltip from '@mui/material/Tooltip';
import Typography from '@mui/material/Typography';
import CameraswitchRounded from '@mui/icons-material/CameraswitchRounded';
import PauseRounded from '@mui/icons-material/PauseRounded';
import PhotoCameraRounded from '@mui/icons-material/PhotoCameraRounded';
import PlayArrowRounded from '@mui/icons-material/PlayArrowRounded';
import { useHubActions, useHubSelector } from '../lib/hubContext';
import type { HubSnapshot } from '../lib/hubStore';
import type { Prediction } from '../lib/contract';
import { answeringModelOf } from '../lib/models';
import { RateMode } from '../lib/rateController';
import { downloadSnapshot } from '../lib/snapshot';
import { useCamera } from '../lib/useCamera';
import { useFrameStreamer } from '../lib/useFrameStreamer';
import { usePageVisible } from '../lib/usePageVisible';
import { useWakeLock } from '../lib/useWakeLock';
import { CameraPreview } from './CameraPreview';
import { LiveLabels } from './LiveLabels';
import { ModelPicker } from './ModelPicker';
import { StatsRow } from './StatsRow';
import { CameraAlert, HubErrorAlert } from './StatusAlerts';
import { SectionCard, TwoColumns } from './SectionCard';
import { WatchLink } from './WatchLink';

// LiveView holds the camera and reads only whether the hub reports an error;
// the parts below it select what they show, so a result re-renders the
// labels, not the video.

const selectHasError = (s: HubSnapshot) => s.lastError !== null;

/** A phone or tablet (touch) can turn its camera round even when it lists one camera before permission. */
function useHasTouch(): boolean {
  const [touch, setTouch] = useState(false);
  useEffect(() => setTouch(navigator.maxTouchPoints > 0), []);
  return touch;
}

interface Props {
  /** False while rendering on the server and before the page knows its mode. */
  enabled: boolean;
  rateMode?: RateMode;
}

export function LiveView({ enabled, rateMode = RateMode.adaptive }: Props) {
  const camera = useCamera(enabled);
  const [video, setVideo] = useState<HTMLVideoElement | null>(null);
  const [paused, setPaused] = useState(false);
  const [smoothing, setSmoothing] = useState(true);
  const [copied, setCopied] = useState(false);
  const [snapshotFailed, setSnapshotFailed] = useState(false);
  const shownRef = useRef<readonly Prediction[]>([]);
  const hub = useHubActions();
  const { resetRate, probe } = hub;
  const hasHubError = useHubSelector(selectHasError);
  const visible = usePageVisible();
  const hasTouch = useHasTouch();
  const ready = camera.status.kind === 'ready';
  const streaming = enabled && !paused && visible && ready;
  const wakeLock = useWakeLock(streaming);

  // Back from hidden: a fresh rate window; and a camera the system stopped meanwhile (iOS does) is reopened.
  const { stream, retry } = camera;
  useEffect(() => {
    if (!visible) return;
    resetRate();
    if (stream?.getVideoTracks().some((t) => t.readyState === 'ended')) retry();
  }, [visible, stream, retry, resetRate]);

  const onRate = useCallback((mode: RateMode, fps: number) => probe?.rate(mode, fps), [probe]);
  useFrameStreamer({ client: hub.client, sendFrame: hub.sendFrame, video, active: streaming, rateMode, onRate });

  const togglePause = useCallback(() => {
    setPaused((p) => !p);
    resetRate();
  }, [resetRate]);

  const onCopied = useCallback(() => setCopied(true), []);
  const onShown = useCallback((p: readonly Prediction[]) => {
    shownRef.current = p;
  }, []);
  const takeSnapshot = useCallback(() => {
    if (!video) return;
    void downloadSnapshot(video, shownRef.current).then((ok) => setSnapshotFailed(!ok));
  }, [video]);

  const nextFacing = camera.facing === 'user' ? 'back' : 'front';

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
        <Stack direction="row" spacing={1} sx={{ alignItems: 'center', flexShrink: 0 }}>
          {camera.devices.length > 1 ? (
            <FormControl size="small" sx={{ minWidth: 140, maxWidth: 220, display: { xs: 'none', sm: 'inline-flex' } }}>
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
          {camera.devices.length > 1 || hasTouch ? (
            <Tooltip title={`Switch to the ${nextFacing} camera`}>
              {/* The span keeps the tooltip working while the button is disabled. */}
              <span>
                <IconButton
                  onClick={camera.switchFacing}
                  aria-label={`Switch to the ${nextFacing} camera`}
                  data-testid="facing-switch"
                  disabled={camera.status.kind === 'starting'}
                  sx={{ border: 1, borderColor: 'divider', width: 44, height: 44 }}
                >
                  <CameraswitchRounded />
                </IconButton>
              </span>
            </Tooltip>
          ) : null}
          <Button
            variant={paused ? 'contained' : 'outlined'}
            startIcon={paused ? <PlayArrowRounded /> : <PauseRounded />}
            onClick={togglePause}
            aria-pressed={paused}
            disabled={!ready}
            data-testid="pause-button"
            sx={{ minWidth: 112, minHeight: 44 }}
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
        <CameraPreview
          stream={camera.stream}
          status={camera.status}
          facing={camera.facing}
          mirrored={camera.mirrored}
          paused={paused}
          streaming={streaming}
          wakeLock={wakeLock}
          onVideo={setVideo}
        />

        <Stack spacing={2.5} sx={{ minWidth: 0 }}>
          <ModelPicker />
          <LiveLabels paused={paused} smoothing={smoothing} onShown={onShown} />
          <Stack direction="row" sx={{ alignItems: 'center', justifyContent: 'space-between', flexWrap: 'wrap', gap: 1 }}>
            <FormControlLabel
              control={
                <Switch checked={smoothing} onChange={(e) => setSmoothing(e.target.checked)} data-testid="smoothing-switch" />
              }
              label="Smooth labels"
            />
            <Button
              variant="outlined"
              startIcon={<PhotoCameraRounded />}
              onClick={takeSnapshot}
              disabled={!ready}
              data-testid="snapshot-button"
              sx={{ minHeight: 44 }}
            >
              Snapshot
            </Button>
          </Stack>
          <StatsRow rateMode={rateMode} />
          <ResultCaption />
          <Divider />
          <WatchLink onCopied={onCopied} />
        </Stack>
      </TwoColumns>
      <Snackbar
        open={copied || snapshotFailed}
        autoHideDuration={2500}
        onClose={() => {
          setCopied(false);
          setSnapshotFailed(false);
        }}
        message={snapshotFailed ? 'No camera picture to take yet' : 'Watch link copied'}
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

const selectLastResult = (s: HubSnapshot) => s.lastResult;

/** The model (name@version) and inference time of the last result. */
function ResultCaption() {
  const lastResult = useHubSelector(selectLastResult);
  const timing = lastResult?.timing;
  const model = lastResult ? answeringModelOf(lastResult) : null;
  if (!model && timing?.infer_ms === undefined) return null;
  return (
    <Typography variant="caption" color="text.secondary" data-testid="result-model" sx={{ overflowWrap: 'anywhere' }}>
      {[
        model ? `Model ${model}` : null,
        timing?.infer_ms !== undefined ? `inference ${timing.infer_ms.toFixed(1)} ms` : null,
        timing?.batch ? `batch ${timing.batch}` : null,
      ]
        .filter(Boolean)
        .join(' · ')}
    </Typography>
  );
}
