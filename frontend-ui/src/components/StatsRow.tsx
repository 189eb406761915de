import Box from '@mui/material/Box';
import Typography from '@mui/material/Typography';
import { shallowEqual, useHubSelector } from '../lib/hubContext';
import type { HubSnapshot } from '../lib/hubStore';
import type { RateMode } from '../lib/rateController';
import { surfaces } from '../theme';

function Stat({
  label,
  labelMore,
  value,
  unit,
  testId,
  hint,
}: {
  label: string;
  /** Extra words of the label, hidden on phones. */
  labelMore?: string;
  value: string;
  unit?: string;
  testId: string;
  hint: string;
}) {
  return (
    <Box
      sx={(t) => ({
        px: 1.5,
        py: 1.25,
        borderRadius: '10px',
        bgcolor: surfaces.light.tint,
        minWidth: 0,
        ...t.applyStyles('dark', { bgcolor: surfaces.dark.tint }),
      })}
      title={hint}
    >
      <Typography variant="caption" color="text.secondary" component="p" noWrap>
        {label}
        {labelMore ? (
          <Box component="span" sx={{ display: { xs: 'none', sm: 'inline' } }}>
            {` ${labelMore}`}
          </Box>
        ) : null}
      </Typography>
      <Typography component="p" sx={{ fontSize: '1.25rem', fontWeight: 600, fontVariantNumeric: 'tabular-nums', lineHeight: 1.3 }}>
        <span data-testid={testId}>{value}</span>
        {unit ? (
          <Typography component="span" variant="body2" color="text.secondary" sx={{ ml: 0.5 }}>
            {unit}
          </Typography>
        ) : null}
      </Typography>
    </Box>
  );
}

// The store republishes the stats every second as a new object; equal figures
// leave the row as it is.
const selectStats = (s: HubSnapshot) => s.stats;

const rateHint: Record<RateMode, string> = {
  adaptive: 'Frames this page sent per second (last 5 s): it follows how fast the hub answers',
  eager: 'Frames this page sent per second (last 5 s): as fast as two frames in flight allow (?rate=eager)',
};

/**
 * Results/s, and for a streaming page its send rate (with its mode), median
 * latency; dropped frames. The watch view shows results and dropped only.
 */
export function StatsRow({ rateMode }: { rateMode?: RateMode }) {
  const stats = useHubSelector(selectStats, shallowEqual);
  const live = rateMode !== undefined;
  return (
    <Box
      sx={{
        display: 'grid',
        gridTemplateColumns: live
          ? { xs: 'repeat(2, minmax(0, 1fr))', sm: 'repeat(4, minmax(0, 1fr))', md: 'repeat(2, minmax(0, 1fr))' }
          : 'repeat(2, minmax(0, 1fr))',
        gap: 1,
      }}
    >
      <Stat label="Frames/s" value={stats.fps.toFixed(1)} testId="fps" hint="Results received per second (last 5 s)" />
      {live ? (
        <>
          <Stat
            label="Sent/s"
            labelMore={rateMode === 'eager' ? '(eager)' : '(adaptive)'}
            value={stats.sentFps.toFixed(1)}
            testId="sent-fps"
            hint={rateHint[rateMode]}
          />
          <Stat
            label="Latency"
            labelMore="(median)"
            value={stats.latencyMedianMs === null ? '—' : Math.round(stats.latencyMedianMs).toString()}
            unit={stats.latencyMedianMs === null ? undefined : 'ms'}
            testId="latency"
            hint="Median time from sending a frame to its result (last 5 s)"
          />
        </>
      ) : null}
      <Stat label="Dropped" value={stats.dropped.toString()} testId="dropped" hint="Frames the hub skipped: a newer one superseded them, or every worker was full" />
    </Box>
  );
}
