import Box from '@mui/material/Box';
import Chip from '@mui/material/Chip';
import Typography from '@mui/material/Typography';
import type { RecentLabel } from '../lib/labels';

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

/** The last distinct headlines, newest first, each with the time it appeared. */
export function RecentLabels({ recent }: { recent: readonly RecentLabel[] }) {
  if (recent.length === 0) return null;
  return (
    <Box>
      <Typography variant="overline" color="text.secondary" component="p" id="recent-labels-title">
        Recently seen
      </Typography>
      <Box
        component="ol"
        aria-labelledby="recent-labels-title"
        data-testid="recent-labels"
        sx={{ listStyle: 'none', p: 0, m: 0, display: 'flex', flexWrap: 'wrap', gap: 0.75 }}
      >
        {recent.map((r) => (
          <Box component="li" key={r.name} data-testid="recent-label" data-name={r.name}>
            <Chip
              size="small"
              variant="outlined"
              label={
                <>
                  {r.name}{' '}
                  <Box component="time" dateTime={new Date(r.at).toISOString()} sx={{ color: 'text.secondary', ml: 0.5 }}>
                    {timeFormat.format(r.at)}
                  </Box>
                </>
              }
            />
          </Box>
        ))}
      </Box>
    </Box>
  );
}
