// The page's one React island: the live camera (or the watch view), the
// upload card, and the connection status it puts into the header.
import { useEffect, useState, type ReactNode } from 'react';
import { createPortal } from 'react-dom';
import Container from '@mui/material/Container';
import CssBaseline from '@mui/material/CssBaseline';
import Stack from '@mui/material/Stack';
import { ThemeProvider } from '@mui/material/styles';
import { theme } from '../theme';
import { WsQuery } from '../lib/protocol';
import { HubProvider } from '../lib/hubContext';
import { useHubSocket } from '../lib/useHubSocket';
import { HUB_STATUS_SLOT_ID } from './Header';
import { LiveView } from './LiveView';
import { WatchView } from './WatchView';
import { UploadCard } from './UploadCard';
import { ConnectionAlert, ConnectionChip } from './StatusAlerts';

type Route = { mode: 'pending' } | { mode: 'live' } | { mode: 'watch'; id: string };

/** Reads ?watch=<session> after hydration (the static HTML is the same for every URL). */
function useRoute(): Route {
  const [route, setRoute] = useState<Route>({ mode: 'pending' });
  useEffect(() => {
    const id = new URLSearchParams(window.location.search).get(WsQuery.watch);
    setRoute(id !== null ? { mode: 'watch', id } : { mode: 'live' });
  }, []);
  return route;
}

/** Renders its children into the server-rendered header, once hydrated. */
function HeaderSlot({ children }: { children: ReactNode }) {
  const [slot, setSlot] = useState<HTMLElement | null>(null);
  useEffect(() => setSlot(document.getElementById(HUB_STATUS_SLOT_ID)), []);
  return slot ? createPortal(children, slot) : null;
}

export default function Classifier() {
  const route = useRoute();
  const hub = useHubSocket({
    enabled: route.mode !== 'pending',
    watch: route.mode === 'watch' ? route.id : null,
  });

  // Classifier itself reads nothing from the hub: each component below
  // selects its own slice, so results and stats ticks do not reach it.
  return (
    <ThemeProvider theme={theme}>
      <CssBaseline />
      <HubProvider hub={hub}>
        <HeaderSlot>
          <ConnectionChip />
        </HeaderSlot>
        <Container maxWidth="lg" sx={{ py: { xs: 2, sm: 4 }, px: { xs: 1.5, sm: 3 } }}>
          <Stack spacing={{ xs: 2, sm: 3 }}>
            <ConnectionAlert />
            {route.mode === 'watch' ? <WatchView watchId={route.id} /> : <LiveView enabled={route.mode === 'live'} />}
            <UploadCard />
          </Stack>
        </Container>
      </HubProvider>
    </ThemeProvider>
  );
}
