import Alert from '@mui/material/Alert';
import AlertTitle from '@mui/material/AlertTitle';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Card from '@mui/material/Card';
import CardContent from '@mui/material/CardContent';
import Chip from '@mui/material/Chip';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import VisibilityRounded from '@mui/icons-material/VisibilityRounded';
import VideocamRounded from '@mui/icons-material/VideocamRounded';
import type { HubSocket } from '../lib/useHubSocket';
import { Predictions } from './Predictions';
import { StatsRow } from './StatsRow';
import { HubErrorAlert } from './StatusAlerts';
import { TopLabelAnnouncer } from './TopLabelAnnouncer';

/** Shows the results another tab's session gets; sends no frames. */
export function WatchView({ hub, watchId }: { hub: HubSocket; watchId: string }) {
  const top = hub.lastResult?.predictions[0]?.label ?? null;
  return (
    <Card component="section" aria-labelledby="watch-title">
      <CardContent sx={{ p: { xs: 2, sm: 3 } }}>
        <Stack
          direction={{ xs: 'column', sm: 'row' }}
          spacing={2}
          sx={{ justifyContent: 'space-between', alignItems: { xs: 'stretch', sm: 'center' }, mb: 2.5 }}
        >
          <Box sx={{ minWidth: 0 }}>
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
          </Box>
          <Button href="/" variant="outlined" startIcon={<VideocamRounded />} sx={{ flexShrink: 0 }}>
            Use my own camera
          </Button>
        </Stack>
        {hub.lastError || hub.ended ? (
          <Stack spacing={1.5} sx={{ mb: 2.5 }}>
            {hub.lastError ? <HubErrorAlert error={hub.lastError} watching /> : null}
            {hub.ended && !hub.lastError ? (
              <Alert severity="info" data-testid="alert-session-ended">
                <AlertTitle>This session has ended</AlertTitle>
                The streaming tab closed or reconnected (a reconnect gives it a new session id). Ask for a fresh “Watch
                this session” link, or use your own camera.
              </Alert>
            ) : null}
          </Stack>
        ) : null}
        <Box sx={{ display: 'grid', gridTemplateColumns: { xs: '1fr', md: 'minmax(0, 7fr) minmax(0, 5fr)' }, gap: { xs: 2.5, md: 4 } }}>
          <Predictions
            predictions={hub.lastResult?.predictions ?? null}
            topTestId="top-label"
            emptyText="Waiting for the session’s next result…"
            stale={hub.connection !== 'connected' || hub.ended}
          />
          <Stack spacing={2}>
            <StatsRow stats={hub.stats} showLatency={false} />
            <Typography variant="caption" color="text.secondary">
              Frames/s counts the results this session receives. If the streaming tab pauses or closes, labels stop here too.
            </Typography>
          </Stack>
        </Box>
        <TopLabelAnnouncer label={top} />
      </CardContent>
    </Card>
  );
}
