// The page's one React island: app bar, live camera (or watch view), upload.
import { useEffect, useState } from 'react';
import AppBar from '@mui/material/AppBar';
import Box from '@mui/material/Box';
import Container from '@mui/material/Container';
import CssBaseline from '@mui/material/CssBaseline';
import Stack from '@mui/material/Stack';
import Toolbar from '@mui/material/Toolbar';
import Typography from '@mui/material/Typography';
import { ThemeProvider } from '@mui/material/styles';
import CenterFocusStrongRounded from '@mui/icons-material/CenterFocusStrongRounded';
import { theme } from '../theme';
import { useHubSocket } from '../lib/useHubSocket';
import { LiveView } from './LiveView';
import { WatchView } from './WatchView';
import { UploadCard } from './UploadCard';
import { ConnectionAlert, ConnectionChip } from './StatusAlerts';

type Route = { mode: 'pending' } | { mode: 'live' } | { mode: 'watch'; id: string };

/** Reads ?watch=<session> after hydration (the static HTML is the same for every URL). */
function useRoute(): Route {
  const [route, setRoute] = useState<Route>({ mode: 'pending' });
  useEffect(() => {
    const id = new URLSearchParams(window.location.search).get('watch');
    setRoute(id !== null ? { mode: 'watch', id } : { mode: 'live' });
  }, []);
  return route;
}

export default function App() {
  const route = useRoute();
  const hub = useHubSocket({
    enabled: route.mode !== 'pending',
    watch: route.mode === 'watch' ? route.id : null,
  });

  return (
    <ThemeProvider theme={theme}>
      <CssBaseline />
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
                Realtime image classification · MobileNetV2
              </Typography>
            </Box>
            <ConnectionChip state={hub.connection} />
          </Toolbar>
        </Container>
      </AppBar>
      <Container component="main" maxWidth="lg" sx={{ py: { xs: 2, sm: 4 }, px: { xs: 1.5, sm: 3 } }}>
        <Stack spacing={{ xs: 2, sm: 3 }}>
          <ConnectionAlert
            state={hub.connection}
            retryInMs={hub.retryInMs}
            everConnected={hub.everConnected}
            onRetry={hub.reconnectNow}
          />
          {route.mode === 'watch' ? <WatchView hub={hub} watchId={route.id} /> : <LiveView hub={hub} enabled={route.mode === 'live'} />}
          <UploadCard />
        </Stack>
        <Typography variant="caption" color="text.secondary" component="footer" sx={{ display: 'block', textAlign: 'center', mt: 4 }}>
          Frames are cropped to their centre square, scaled to 224×224 and classified by MobileNetV2 (ImageNet) on the hub’s workers.
        </Typography>
      </Container>
    </ThemeProvider>
  );
}
