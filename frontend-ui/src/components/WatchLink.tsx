// The live view's link for other tabs to watch this session, with a copy
// button; it reads only the session id from the hub.
import { useCallback } from 'react';
import IconButton from '@mui/material/IconButton';
import Link from '@mui/material/Link';
import Stack from '@mui/material/Stack';
import Tooltip from '@mui/material/Tooltip';
import Typography from '@mui/material/Typography';
import ContentCopyRounded from '@mui/icons-material/ContentCopyRounded';
import OpenInNewRounded from '@mui/icons-material/OpenInNewRounded';
import { useHubSelector } from '../lib/hubContext';
import type { HubSnapshot } from '../lib/hubStore';
import { watchHref as watchHrefOf } from '../lib/contract';

const selectSession = (s: HubSnapshot) => s.session;

export function WatchLink({ onCopied }: { onCopied: () => void }) {
  const session = useHubSelector(selectSession);
  const watchHref = session ? watchHrefOf(session) : null;
  const copyLink = useCallback(() => {
    if (!watchHref) return;
    const url = new URL(watchHref, window.location.href).toString();
    void navigator.clipboard?.writeText(url).then(onCopied, () => undefined);
  }, [watchHref, onCopied]);

  return (
    <Stack direction="row" spacing={1} sx={{ alignItems: 'center', minHeight: 40 }}>
      {watchHref ? (
        <>
          <Link
            href={watchHref}
            target="_blank"
            rel="noopener"
            data-testid="watch-link"
            underline="hover"
            sx={{ display: 'inline-flex', alignItems: 'center', gap: 0.75, fontWeight: 500 }}
          >
            <OpenInNewRounded fontSize="small" />
            Watch this session
          </Link>
          <Tooltip title="Copy watch link">
            <IconButton size="small" onClick={copyLink} aria-label="Copy watch link">
              <ContentCopyRounded fontSize="small" />
            </IconButton>
          </Tooltip>
        </>
      ) : (
        <Typography variant="body2" color="text.secondary">
          A link to watch this session appears once connected.
        </Typography>
      )}
    </Stack>
  );
}
