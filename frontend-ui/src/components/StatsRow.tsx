import Box from '@mui/material/Box';
import Typography from '@mui/material/Typography';
import { shallowEqual, useHubSelector } from '../lib/hubContext';
import type { HubSnapshot } from '../lib/hubStore';

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
      sx={{ px: 1.5, py: 1.25, borderRadius: '10px', bgcolor: 'rgba(36, 81, 199, 0.05)', minWidth: 0 }}
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

/** Frames/s, median latency and dropped frames of the hub in context. */
export function StatsRow({ showLatency = true }: { showLatency?: boolean }) {
  const stats = useHubSelector(selectStats, shallowEqual);
  return (
    <Box sx={{ display: 'grid', gridTemplateColumns: showLatency ? 'repeat(3, minmax(0, 1fr))' : 'repeat(2, minmax(0, 1fr))', gap: 1 }}>
      <Stat label="Frames/s" value={stats.fps.toFixed(1)} testId="fps" hint="Results received per second (last 5 s)" />
      {showLatency ? (
        <Stat
          label="Latency"
          labelMore="(median)"
          value={stats.latencyMedianMs === null ? '—' : Math.round(stats.latencyMedianMs).toString()}
          unit={stats.latencyMedianMs === null ? undefined : 'ms'}
          testId="latency"
          hint="Median time from sending a frame to its result (last 5 s)"
        />
      ) : null}
      <Stat label="Dropped" value={stats.dropped.toString()} testId="dropped" hint="Frames the hub skipped: a newer one superseded them, or every worker was full" />
    </Box>
  );
}
