// Asks for the hub's API key when the hub closed the session as
// unauthorized (close code 4401): the key is kept for this tab, or on this
// device when the person asks, and the page connects again with it.
import { useEffect, useState, type FormEvent } from 'react';
import Button from '@mui/material/Button';
import Checkbox from '@mui/material/Checkbox';
import Dialog from '@mui/material/Dialog';
import DialogActions from '@mui/material/DialogActions';
import DialogContent from '@mui/material/DialogContent';
import DialogContentText from '@mui/material/DialogContentText';
import DialogTitle from '@mui/material/DialogTitle';
import FormControlLabel from '@mui/material/FormControlLabel';
import TextField from '@mui/material/TextField';
import { loadApiKey, saveApiKey, type KeyStorages } from '../lib/apiKey';
import { useHubSelector } from '../lib/hubContext';
import type { HubSnapshot } from '../lib/hubStore';
import { CloseCode } from '../lib/contract';

const selectUnauthorized = (s: HubSnapshot) => s.closeCode === CloseCode.unauthorized.code;

export interface ApiKeyDialogProps {
  /** Called once a key is kept: connect again with it. */
  onSaved: () => void;
  /** Injected in tests; the browser's storages otherwise. */
  storages?: KeyStorages;
}

export function ApiKeyDialog({ onSaved, storages }: ApiKeyDialogProps) {
  const unauthorized = useHubSelector(selectUnauthorized);
  const [open, setOpen] = useState(false);
  const [key, setKey] = useState('');
  const [remember, setRemember] = useState(false);
  // A key was kept before and the hub still refused it: say so.
  const [hadKey, setHadKey] = useState(false);
  useEffect(() => {
    if (!unauthorized) return;
    setHadKey(loadApiKey(storages) !== null);
    setOpen(true);
  }, [unauthorized, storages]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!key.trim()) return;
    saveApiKey(key, remember, storages);
    setOpen(false);
    setKey('');
    onSaved();
  };

  return (
    <Dialog open={open} onClose={() => setOpen(false)} data-testid="api-key-dialog">
      <form onSubmit={submit}>
        <DialogTitle>This hub needs an API key</DialogTitle>
        <DialogContent>
          <DialogContentText>
            {hadKey ? 'The hub did not accept the key this page had. ' : ''}
            Only clients with an API key or token may stream to this hub. Ask whoever runs it for one (they make it
            with <code>hub apikey</code>).
          </DialogContentText>
          <TextField
            autoFocus
            fullWidth
            margin="dense"
            label="API key or token"
            type="password"
            autoComplete="off"
            value={key}
            onChange={(e) => setKey(e.target.value)}
            slotProps={{ htmlInput: { 'data-testid': 'api-key-input' } }}
          />
          <FormControlLabel
            control={<Checkbox checked={remember} onChange={(e) => setRemember(e.target.checked)} />}
            label="Remember on this device (otherwise only for this tab)"
          />
        </DialogContent>
        <DialogActions>
          <Button onClick={() => setOpen(false)}>Cancel</Button>
          <Button type="submit" variant="contained" disabled={!key.trim()} data-testid="api-key-save">
            Connect
          </Button>
        </DialogActions>
      </form>
    </Dialog>
  );
}
