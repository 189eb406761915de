// @ts-check
import { defineConfig } from 'astro/config';
import react from '@astrojs/react';
import { WS_PATH } from './src/lib/contract.ts';

// Where `npm run dev` sends /ws, /api, /healthz and /readyz.
const hubUrl = process.env.HUB_URL ?? 'http://localhost:8080';

export default defineConfig({
  output: 'static',
  outDir: './dist',
  integrations: [react()],
  // The hub serves dist/ at "/"; assets get content hashes and live under /_astro/.
  build: { format: 'file' },
  devToolbar: { enabled: false },
  vite: {
    ssr: {
      // MUI's packages must go through Vite for server rendering of the island.
      noExternal: [/^@mui\//],
    },
    server: {
      proxy: {
        [WS_PATH]: {
          target: hubUrl,
          ws: true,
          changeOrigin: true,
          // The hub checks Origin; in development the page's origin is the dev
          // server's, so present the hub's own origin instead.
          headers: { origin: hubUrl },
        },
        '/api': { target: hubUrl, changeOrigin: true },
        '/healthz': { target: hubUrl, changeOrigin: true },
        '/readyz': { target: hubUrl, changeOrigin: true },
      },
    },
  },
});
