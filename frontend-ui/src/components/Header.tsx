// The page's header. Astro renders it on the server with no client
// directive, so it ships no JavaScript; the island puts the live connection
// status into its #hub-status slot.
import AppBar from '@mui/material/AppBar';
import Box from '@mui/material/Box';
import Container from '@mui/material/Container';
import Toolbar from '@mui/material/Toolbar';
import Typography from '@mui/material/Typography';
import InitColorSchemeScript from '@mui/material/InitColorSchemeScript';
import { ThemeProvider } from '@mui/material/styles';
import Chip from '@mui/material/Chip';
import CenterFocusStrongRounded from '@mui/icons-material/CenterFocusStrongRounded';
import FiberManualRecordRounded from '@mui/icons-material/FiberManualRecordRounded';
import { useHubSelector } from '../lib/hubContext';
import type { HubSnapshot } from '../lib/hubStore';
import { COLOR_SCHEME_ATTRIBUTE, COLOR_SCHEME_STORAGE_KEY, MODE_STORAGE_KEY, theme } from '../theme';

/** Where the island renders the connection status. */
export const HUB_STATUS_SLOT_ID = 'hub-status';
/** Where the island renders the model answering (the header itself ships no JavaScript). */
export const ANSWERING_MODEL_SLOT_ID = 'answering-model';

const selectRecording = (s: HubSnapshot) => s.recording;
/** The model of the last result; before one, the session's (from the welcome or a switch). */
const selectHeaderModel = (s: HubSnapshot) => s.answeringModel ?? s.model;

/**
 * The model answering this page, `name@version`, as the results name it: after
 * a switch it changes with the first result of the new model, so it never
 * names a model whose labels are not yet on the page.
 */
export function AnsweringModel() {
  const model = useHubSelector(selectHeaderModel);
  return model ? (
    <>
      {'· '}
      <span data-testid="answering-model" title="The model answering this page">
        {model}
      </span>
    </>
  ) : null;
}

/**
 * Shown in the header (through the island's slot) while the hub records this
 * page's frames and their results (its welcome says so): nobody should find
 * their camera images kept without having been told.
 */
export function RecordingIndicator() {
  const recording = useHubSelector(selectRecording);
  if (!recording) return null;
  return (
    <Chip
      data-testid="recording-indicator"
      role="status"
      size="small"
      color="error"
      variant="outlined"
      icon={<FiberManualRecordRounded fontSize="small" />}
      label="Recording"
      title="The hub keeps this camera's frames and their results for replay"
      sx={{ fontWeight: 500, bgcolor: 'background.paper' }}
    />
  );
}

export default function Header() {
  return (
    <ThemeProvider theme={theme} modeStorageKey={MODE_STORAGE_KEY} colorSchemeStorageKey={COLOR_SCHEME_STORAGE_KEY}>
      {/* Before anything paints: the scheme from the stored choice or the system's, so dark never flashes light. */}
      <InitColorSchemeScript
        attribute={COLOR_SCHEME_ATTRIBUTE}
        modeStorageKey={MODE_STORAGE_KEY}
        colorSchemeStorageKey={COLOR_SCHEME_STORAGE_KEY}
        defaultMode="system"
      />
      <AppBar position="sticky">
        <Container maxWidth="lg" disableGutters>
          <Toolbar sx={{ gap: 1.5, px: { xs: 2, sm: 3 } }}>
            <Box
              aria-hidden="true"
              sx={{
                width: 36,
                height: 36,
                borderRadius: 2,
                display: 'grid',
                placeItems: 'center',
                color: 'primary.contrastText',
                background: 'linear-gradient(135deg, #2451c7 0%, #5b7ff0 100%)',
                flexShrink: 0,
              }}
            >
              <CenterFocusStrongRounded fontSize="small" />
            </Box>
            <Box sx={{ minWidth: 0, flexGrow: 1 }}>
              <Typography variant="h1" component="h1" noWrap>
                Lens Hub
              </Typography>
              <Typography variant="caption" color="text.secondary" noWrap component="p" sx={{ display: { xs: 'none', sm: 'block' }, lineHeight: 1.2 }}>
                Realtime image classification <span id={ANSWERING_MODEL_SLOT_ID} />
              </Typography>
            </Box>
            <Box id={HUB_STATUS_SLOT_ID} sx={{ flexShrink: 0 }} />
          </Toolbar>
        </Container>
      </AppBar>
    </ThemeProvider>
  );
}
