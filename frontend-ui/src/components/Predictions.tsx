import Box from '@mui/material/Box';
import LinearProgress from '@mui/material/LinearProgress';
import Skeleton from '@mui/material/Skeleton';
import Stack from '@mui/material/Stack';
import Typography from '@mui/material/Typography';
import { formatPercent, splitLabel } from '../lib/labels';
import type { Prediction } from '../lib/contract';

interface Props {
  predictions: Prediction[] | null;
  /** data-testid of the first label's text, e.g. "top-label". */
  topTestId: string;
  /** Shown when there is nothing yet. */
  emptyText: string;
  /** Dim the labels (e.g. paused or stale). */
  stale?: boolean;
}

/** The top prediction's name in large type with its synonyms beneath, then the top-3 with confidence bars. */
export function Predictions({ predictions, topTestId, emptyText, stale = false }: Props) {
  const top = predictions?.[0];
  const topName = top ? splitLabel(top.label) : null;
  if (!predictions || !top || !topName) {
    return (
      <Box>
        <Typography variant="overline" color="text.secondary">
          Top prediction
        </Typography>
        <Typography variant="h3" component="p" color="text.secondary" sx={{ fontWeight: 500 }}>
          <span data-testid={topTestId} />
          {emptyText}
        </Typography>
        <Stack spacing={2} sx={{ mt: 3 }} aria-hidden="true">
          {[0, 1, 2].map((i) => (
            <Box key={i}>
              <Skeleton variant="text" width={`${60 - i * 12}%`} animation={false} />
              <Skeleton variant="rounded" height={8} animation={false} />
            </Box>
          ))}
        </Stack>
      </Box>
    );
  }
  return (
    <Box sx={{ opacity: stale ? 0.55 : 1, transition: 'opacity 200ms' }}>
      <Typography variant="overline" color="text.secondary">
        Top prediction
      </Typography>
      <Stack direction="row" spacing={1.5} sx={{ alignItems: 'baseline', flexWrap: 'wrap' }}>
        <Typography variant="h3" component="p" data-testid={topTestId} sx={{ overflowWrap: 'anywhere', minWidth: 0 }}>
          {topName.name}
        </Typography>
        <Typography variant="h6" component="span" color="primary" sx={{ fontWeight: 600 }}>
          {formatPercent(top.confidence)}
        </Typography>
      </Stack>
      {topName.scientific ? (
        <Typography
          variant="body2"
          color="text.secondary"
          data-testid={`${topTestId}-scientific`}
          sx={{ mt: 0.5, fontStyle: 'italic', overflowWrap: 'anywhere' }}
        >
          {topName.scientific}
        </Typography>
      ) : null}
      {topName.synonyms.length > 0 ? (
        <Typography
          variant="body2"
          color="text.secondary"
          data-testid={`${topTestId}-synonyms`}
          sx={{ mt: 0.5, overflowWrap: 'anywhere' }}
        >
          also: {topName.synonyms.join(', ')}
        </Typography>
      ) : null}
      <Stack component="ol" spacing={1.75} sx={{ listStyle: 'none', p: 0, m: 0, mt: 2.5 }} aria-label="Top 3 predictions">
        {predictions.slice(0, 3).map((p, i) => (
          <Box component="li" key={`${i}-${p.label}`}>
            {/* Long names (scientific ones, long synonyms) wrap rather than push the percentage out. */}
            <Stack direction="row" sx={{ justifyContent: 'space-between', alignItems: 'baseline', mb: 0.5, gap: 2 }}>
              <Typography
                variant="body2"
                sx={{ fontWeight: i === 0 ? 600 : 400, minWidth: 0, overflowWrap: 'anywhere' }}
                title={p.label}
              >
                {splitLabel(p.label).name}
              </Typography>
              <Typography
                variant="body2"
                color="text.secondary"
                sx={{ fontVariantNumeric: 'tabular-nums', flexShrink: 0 }}
              >
                {formatPercent(p.confidence)}
              </Typography>
            </Stack>
            <LinearProgress
              variant="determinate"
              value={Math.max(0, Math.min(100, p.confidence * 100))}
              color={i === 0 ? 'primary' : 'inherit'}
              sx={i === 0 ? undefined : { color: 'text.disabled' }}
              aria-label={`${splitLabel(p.label).name} confidence`}
            />
          </Box>
        ))}
      </Stack>
    </Box>
  );
}
