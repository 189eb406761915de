// The one MUI theme of the page, light and dark. The colours are CSS
// variables (cssVariables), so the server-rendered header and the island
// switch together: the scheme is an attribute on <html> (COLOR_SCHEME_ATTRIBUTE),
// set before the first paint by InitColorSchemeScript (in the header) from the
// person's choice in localStorage (MODE_STORAGE_KEY), else from the system's
// prefers-color-scheme.
import { createTheme } from '@mui/material/styles';

/** The attribute on <html> that names the scheme in use: data-mui-color-scheme="dark". */
export const COLOR_SCHEME_ATTRIBUTE = 'data-mui-color-scheme';
/** Where the person's choice (light, dark or system) is kept. */
export const MODE_STORAGE_KEY = 'lens-hub-color-mode';
/** Where the scheme resolved from that choice is kept (MUI's own bookkeeping). */
export const COLOR_SCHEME_STORAGE_KEY = 'lens-hub-color-scheme';

/** Colours outside the palette, by scheme (the camera's backdrop stays dark in both). */
export const surfaces = {
  light: { tint: 'rgba(36, 81, 199, 0.05)', tintStrong: 'rgba(36, 81, 199, 0.06)', well: 'rgba(23, 32, 51, 0.02)', line: 'rgba(23, 32, 51, 0.10)' },
  dark: { tint: 'rgba(122, 155, 255, 0.09)', tintStrong: 'rgba(122, 155, 255, 0.14)', well: 'rgba(255, 255, 255, 0.03)', line: 'rgba(226, 232, 245, 0.14)' },
} as const;

export const theme = createTheme({
  cssVariables: { colorSchemeSelector: COLOR_SCHEME_ATTRIBUTE },
  colorSchemes: {
    light: {
      palette: {
        primary: { main: '#2451c7', light: '#5b7ff0', dark: '#173a96', contrastText: '#ffffff' },
        secondary: { main: '#00897b' },
        background: { default: '#f4f6fb', paper: '#ffffff' },
        text: { primary: '#172033', secondary: '#5a6478' },
        divider: surfaces.light.line,
      },
    },
    dark: {
      palette: {
        // Lighter blue on dark surfaces keeps text and bars above 4.5:1.
        primary: { main: '#8fa8ff', light: '#b4c5ff', dark: '#5b7ff0', contrastText: '#0d1424' },
        secondary: { main: '#4db6ac' },
        background: { default: '#0f1522', paper: '#171f30' },
        text: { primary: '#e6eaf3', secondary: '#a9b3c7' },
        divider: surfaces.dark.line,
      },
    },
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
        root: ({ theme: t }) => ({
          borderColor: surfaces.light.line,
          boxShadow: '0 1px 2px rgba(23, 32, 51, 0.04), 0 8px 24px rgba(23, 32, 51, 0.04)',
          ...t.applyStyles('dark', { borderColor: surfaces.dark.line, boxShadow: 'none', backgroundImage: 'none' }),
        }),
      },
    },
    MuiAppBar: {
      defaultProps: { elevation: 0, color: 'inherit' },
      styleOverrides: {
        root: ({ theme: t }) => ({
          backgroundColor: 'rgba(255, 255, 255, 0.92)',
          backdropFilter: 'saturate(180%) blur(8px)',
          borderBottom: `1px solid ${surfaces.light.line}`,
          ...t.applyStyles('dark', {
            backgroundColor: 'rgba(15, 21, 34, 0.92)',
            backgroundImage: 'none',
            borderBottom: `1px solid ${surfaces.dark.line}`,
          }),
        }),
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
