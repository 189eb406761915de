import { defineConfig } from 'vitest/config';

// Unit tests only; the end-to-end tests in e2e/ run with `npm run test:e2e`.
export default defineConfig({
  esbuild: { jsx: 'automatic' },
  test: {
    include: ['src/**/*.test.{ts,tsx}', 'test/**/*.test.{ts,tsx}'],
    environment: 'node',
    restoreMocks: true,
  },
});
