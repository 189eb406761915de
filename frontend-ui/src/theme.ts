// The one MUI theme of the page.
import { createTheme } from '@mui/material/styles';

export const theme = createTheme({
  palette: {
    mode: 'light',
    primary: { main: '#2451c7', light: '#5b7ff0', dark: '#173a96', contrastText: '#ffffff' },
    secondary: { main: '#00897b' },
    background: { default: '#f4f6fb', paper: '#ffffff' },
    text: { primary: '#172033', secondary: '#5a6478' },
    divider: 'rgba(23, 32, 51, 0.10)',
  },
  shape: { borderRadius: 12 },
  typography: {
    fontFamily: '"Roboto", system-ui, -apple-system, "Segoe UI", "Helvetica Neue", Arial, sans-serif',
    h1: { fontSize: '1.25rem', fontWeight: 700, letterSpacing: '-0.01em' },
    h2: { fontSize: '1.125rem', fontWeight: 600 },
    h3: { fontSize: '1.75rem', fontWeight: 700, letterSpacing: '-0.015em', lineHeight: 1.2 },
    overline: { fontWeight: 600, letterSpacing: '0.08em' },
    button: { textTransform: 'none', fontWeight: 600 },
  },
  components: {
    MuiCard: {
      defaultProps: { variant: 'outlined' },
      styleOverrides: {
        root: {
          borderColor: 'rgba(23, 32, 51, 0.10)',
          boxShadow: '0 1px 2px rgba(23, 32, 51, 0.04), 0 8px 24px rgba(23, 32, 51, 0.04)',
        },
      },
    },
    MuiAppBar: {
      defaultProps: { elevation: 0, color: 'inherit' },
      styleOverrides: {
        root: {
          backgroundColor: 'rgba(255, 255, 255, 0.92)',
          backdropFilter: 'saturate(180%) blur(8px)',
          borderBottom: '1px solid rgba(23, 32, 51, 0.10)',
        },
      },
    },
    MuiLinearProgress: {
      styleOverrides: {
        root: { height: 8, borderRadius: 4 },
        bar: { borderRadius: 4 },
      },
    },
    MuiButton: { defaultProps: { disableElevation: true } },
    MuiAlert: { styleOverrides: { root: { alignItems: 'flex-start' } } },
  },
});
