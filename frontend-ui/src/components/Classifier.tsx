// The page's one React island: the live camera (or the watch view), the
// upload card, and the connection status it puts into the header.
import { useEffect, useState, type ReactNode } from 'react';
import { createPortal } from 'react-dom';
import Container from '@mui/material/Container';
import CssBaseline from '@mui/material/CssBaseline';
import Stack from '@mui/material/Stack';
import { ThemeProvider } from '@mui/material/styles';
import { COLOR_SCHEME_STORAGE_KEY, MODE_STORAGE_KEY, theme } from '../theme';
import { WsQuery } from '../lib/contract';
import { FRAMES_IN_FLIGHT, rateModeFromSearch, type RateMode } from '../lib/rateController';
import { HubProvider } from '../lib/hubContext';
import { useHubSocket } from '../lib/useHubSocket';
import { ANSWERING_MODEL_SLOT_ID, AnsweringModel, HUB_STATUS_SLOT_ID, RecordingIndicator } from './Header';
import { LiveView } from './LiveView';
import { WatchView } from './WatchView';
import { UploadCard } from './UploadCard';
import { ApiKeyDialog } from './ApiKeyDialog';
import { ColorSchemeToggle } from './ColorSchemeToggle';
import { ConnectionAlert, ConnectionChip, ProtocolAlert } from './StatusAlerts';

type Route = { mode: 'pending' } | { mode: 'live'; rate: RateMode } | { mode: 'watch'; id: string };

/** Reads ?watch=<session> and ?rate= after hydration (the static HTML is the same for every URL). */
function useRoute(): Route {
  const [route, setRoute] = useState<Route>({ mode: 'pending' });
  useEffect(() => {
    const id = new URLSearchParams(window.location.search).get(WsQuery.watch);
    setRoute(id !== null ? { mode: 'watch', id } : { mode: 'live', rate: rateModeFromSearch(window.location.search) });
  }, []);
  return route;
}

/** Renders its children into a slot (by id) of the server-rendered header, once hydrated. */
function HeaderSlot({ id, children }: { id: string; children: ReactNode }) {
  const [slot, setSlot] = useState<HTMLElement | null>(null);
  useEffect(() => setSlot(document.getElementById(id)), [id]);
  return slot ? createPortal(children, slot) : null;
}

export default function Classifier() {
  const route = useRoute();
  // Bumped when an API key is entered: the connection starts again with it.
  const [credentialVersion, setCredentialVersion] = useState(0);
  const hub = useHubSocket({
    credentialVersion,
    enabled: route.mode !== 'pending',
    watch: route.mode === 'watch' ? route.id : null,
    maxInFlight: route.mode === 'live' ? FRAMES_IN_FLIGHT[route.rate] : FRAMES_IN_FLIGHT.eager,
  });

  // Classifier itself reads nothing from the hub: each component below
  // selects its own slice, so results and stats ticks do not reach it.
  return (
    <ThemeProvider theme={theme} modeStorageKey={MODE_STORAGE_KEY} colorSchemeStorageKey={COLOR_SCHEME_STORAGE_KEY}>
      <CssBaseline enableColorScheme />
      <HubProvider hub={hub}>
        <HeaderSlot id={ANSWERING_MODEL_SLOT_ID}>
          <AnsweringModel />
        </HeaderSlot>
        <HeaderSlot id={HUB_STATUS_SLOT_ID}>
          <Stack direction="row" spacing={1} sx={{ alignItems: 'center' }}>
            <ColorSchemeToggle />
            <RecordingIndicator />
            <ConnectionChip />
          </Stack>
        </HeaderSlot>
        <Container maxWidth="lg" sx={{ py: { xs: 2, sm: 4 }, px: { xs: 1.5, sm: 3 } }}>
          <Stack spacing={{ xs: 2, sm: 3 }}>
            <ConnectionAlert />
            <ProtocolAlert />
            {route.mode === 'watch' ? (
              <WatchView watchId={route.id} />
            ) : (
              <LiveView enabled={route.mode === 'live'} rateMode={route.mode === 'live' ? route.rate : undefined} />
            )}
            <UploadCard />
          </Stack>
        </Container>
        <ApiKeyDialog onSaved={() => setCredentialVersion((v) => v + 1)} />
      </HubProvider>
    </ThemeProvider>
  );
}
