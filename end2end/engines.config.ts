import { defineConfig } from '@playwright/test';
import type { Engine } from './engines/drivers';

// The cross-engine suite (engines/): Firefox ESR and WebKitGTK over WebDriver, the same checks as
// the Chromium suite (tests/checks.ts). Playwright is only the runner here: no Playwright browser
// is launched. One worker: each test runs a server and a whole browser on a shared 2-core machine.
export default defineConfig<object, { engine: Engine }>({
  testDir: './engines',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: !!process.env.CI,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: 'list',
  projects: [
    { name: 'firefox', use: { engine: 'firefox' } },
    { name: 'webkit', use: { engine: 'webkit' } },
  ],
});
