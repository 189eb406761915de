// The page's card layout: a heading row (title block on the left, actions on
// the right, stacked on phones) and a two-column body (media | details).
import type { ReactNode } from 'react';
import Box from '@mui/material/Box';
import Card from '@mui/material/Card';
import CardContent from '@mui/material/CardContent';
import Stack from '@mui/material/Stack';

export function SectionCard({
  titleId,
  heading,
  actions,
  children,
}: {
  /** id of the heading's title element, which names the section. */
  titleId: string;
  heading: ReactNode;
  actions?: ReactNode;
  children: ReactNode;
}) {
  return (
    <Card component="section" aria-labelledby={titleId}>
      <CardContent sx={{ p: { xs: 2, sm: 3 } }}>
        <Stack
          direction={{ xs: 'column', sm: 'row' }}
          spacing={2}
          sx={{ justifyContent: 'space-between', alignItems: { xs: 'stretch', sm: 'center' }, mb: 2.5 }}
        >
          <Box sx={{ minWidth: 0 }}>{heading}</Box>
          {actions}
        </Stack>
        {children}
      </CardContent>
    </Card>
  );
}

/** Media on the left, details on the right; one column on phones. */
export function TwoColumns({ children }: { children: ReactNode }) {
  return (
    <Box
      sx={{
        display: 'grid',
        gridTemplateColumns: { xs: '1fr', md: 'minmax(0, 7fr) minmax(0, 5fr)' },
        gap: { xs: 2.5, md: 4 },
      }}
    >
      {children}
    </Box>
  );
}

/** An image or video filling its (relatively positioned) box, letterboxed. */
export const fillBox = {
  position: 'absolute',
  inset: 0,
  width: '100%',
  height: '100%',
  objectFit: 'contain',
} as const;
