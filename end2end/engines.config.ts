import { defineConfig } from '@playwright/test';
import type { Engine } from './engines/drivers';

// The cross-engine suite (engines/): Firefox ESR and WebKitGTK over WebDriver, the same checks as
// the Chromium suite (tests/checks.ts). Playwright is only the runner here: no Playwright browser
// is launched. One worker: each test runs a server and a whole browser on a shared 2-core machine.
// As in the Chromium suite, under CI a failed test runs once more and is reported flaky if it then
// passes: at a load average of 11 on the 2-core test machine, WebKit once showed an event 2.6 s
// after it was sent, over the shared log check's 2 s bound.
export default defineConfig<object, { engine: Engine }>({
  testDir: './engines',
  fullyParallel: false,
  workers: 1,
  retries: process.env.CI ? 1 : 0,
  forbidOnly: !!process.env.CI,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: 'list',
  projects: [
    { name: 'firefox', use: { engine: 'firefox' } },
    { name: 'webkit', use: { engine: 'webkit' } },
  ],
});
