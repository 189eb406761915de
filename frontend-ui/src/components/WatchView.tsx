import Alert from '@mui/material/Alert';
import AlertTitle from '@mui/material/AlertTitle';
import Button from '@mui/material/Button';
import Chip from '@mui/material/Chip';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import VisibilityRounded from '@mui/icons-material/VisibilityRounded';
import VideocamRounded from '@mui/icons-material/VideocamRounded';
import { shallowEqual, useHubSelector } from '../lib/hubContext';
import type { HubSnapshot } from '../lib/hubStore';
import { Predictions } from './Predictions';
import { StatsRow } from './StatsRow';
import { HubErrorAlert } from './StatusAlerts';
import { TopLabelAnnouncer } from './TopLabelAnnouncer';
import { SectionCard, TwoColumns } from './SectionCard';

/**
 * Shows the results another tab's session gets; sends no frames. It reads
 * nothing from the hub itself: the alerts, the labels and the stats below
 * select their own slices.
 */
export function WatchView({ watchId }: { watchId: string }) {
  return (
    <SectionCard
      titleId="watch-title"
      heading={
        <>
          <Stack direction="row" spacing={1} sx={{ alignItems: 'center' }}>
            <VisibilityRounded color="primary" />
            <Typography variant="h2" id="watch-title">
              Watching a live session
            </Typography>
          </Stack>
          <Typography variant="body2" color="text.secondary" sx={{ mt: 0.5 }}>
            The labels another tab is getting, as they arrive. This page sends no frames.
          </Typography>
          <Chip
            size="small"
            label={`Session ${watchId}`}
            data-testid="watch-session"
            sx={{ mt: 1, maxWidth: '100%', fontFamily: 'ui-monospace, SFMono-Regular, Menlo, monospace' }}
          />
        </>
      }
      actions={
        <Button href="/" variant="outlined" startIcon={<VideocamRounded />} sx={{ flexShrink: 0 }}>
          Use my own camera
        </Button>
      }
    >
      <WatchAlerts />
      <TwoColumns>
        <WatchLabels />
        <Stack spacing={2}>
          <StatsRow />
          <Typography variant="caption" color="text.secondary">
            Frames/s counts the results this session receives. If the streaming tab pauses or closes, labels stop here
            too.
          </Typography>
        </Stack>
      </TwoColumns>
      <WatchTopLabel />
    </SectionCard>
  );
}

const selectAlerts = (s: HubSnapshot) => ({ error: s.lastError, ended: s.ended });

/** The hub's error, or that the watched session has ended. */
function WatchAlerts() {
  const { error, ended } = useHubSelector(selectAlerts, shallowEqual);
  if (!error && !ended) return null;
  return (
    <Stack spacing={1.5} sx={{ mb: 2.5 }}>
      {error ? <HubErrorAlert error={error} watching /> : null}
      {ended && !error ? (
        <Alert severity="info" data-testid="alert-session-ended">
          <AlertTitle>This session has ended</AlertTitle>
          The streaming tab closed or lost its connection. If it comes back it keeps its session id, and its labels
          show up here again by themselves.
        </Alert>
      ) : null}
    </Stack>
  );
}

const selectLabels = (s: HubSnapshot) => ({
  predictions: s.lastResult?.predictions ?? null,
  stale: s.connection !== 'connected' || s.ended,
});

function WatchLabels() {
  const { predictions, stale } = useHubSelector(selectLabels, shallowEqual);
  return (
    <Predictions
      predictions={predictions}
      topTestId="top-label"
      emptyText="Waiting for the session’s next result…"
      stale={stale}
    />
  );
}

const selectTopLabel = (s: HubSnapshot) => s.lastResult?.predictions[0]?.label ?? null;

function WatchTopLabel() {
  return <TopLabelAnnouncer label={useHubSelector(selectTopLabel)} />;
}
