// The light/dark switch in the header. The page starts with the system's
// colour scheme; a click picks the other one and MUI keeps the choice in
// localStorage (theme.ts, MODE_STORAGE_KEY) for the next visit.
import IconButton from '@mui/material/IconButton';
import Tooltip from '@mui/material/Tooltip';
import { useColorScheme } from '@mui/material/styles';
import DarkModeRounded from '@mui/icons-material/DarkModeRounded';
import LightModeRounded from '@mui/icons-material/LightModeRounded';

export function ColorSchemeToggle() {
  const { mode, systemMode, setMode } = useColorScheme();
  // Before hydration mode is undefined: render the button anyway so the header does not jump.
  const current = (mode === 'system' ? systemMode : mode) ?? 'light';
  const next = current === 'dark' ? 'light' : 'dark';
  const label = `Switch to ${next} mode`;
  return (
    <Tooltip title={label}>
      <IconButton
        onClick={() => setMode(next)}
        aria-label={label}
        data-testid="color-scheme-toggle"
        data-scheme={current}
        size="small"
        sx={{ color: 'text.secondary' }}
      >
        {current === 'dark' ? <LightModeRounded fontSize="small" /> : <DarkModeRounded fontSize="small" />}
      </IconButton>
    </Tooltip>
  );
}
