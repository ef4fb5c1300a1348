// The fixtures of the cross-engine suite: the server fixtures of ../tests/server.ts, plus for
// each test a WebDriver session of the project's engine (../engines.config.ts), with WebKit's
// Xvfb kept for the whole worker. A session that cannot start fails the test: nothing is skipped.

import { startSession, startXvfb, type Driven, type Engine } from './drivers';
import { Windows } from './windows';
import { expect, test as base } from '../tests/server';

type WorkerFixtures = {
  /** The engine this project drives (set per project in ../engines.config.ts). */
  engine: Engine;
  /** WebKit's X display, started once per worker; undefined for Firefox. */
  display: string | undefined;
};

type TestFixtures = {
  /** The language the browser prefers; override with `test.use({ language: 'zh-CN' })`. */
  language: string;
  /** The windows of this test's session, closed after it; fails it if a page raised errors. */
  windows: Windows;
};

export const test = base.extend<TestFixtures, WorkerFixtures>({
  engine: ['firefox', { scope: 'worker', option: true }],

  display: [
    async ({ engine }, use) => {
      if (engine !== 'webkit') return use(undefined);
      const xvfb = await startXvfb();
      try {
        await use(xvfb.display);
      } finally {
        await xvfb.stop();
      }
    },
    { scope: 'worker' },
  ],

  language: ['en-US', { option: true }],

  windows: async ({ engine, display, language }, use, testInfo) => {
    const driven: Driven = await startSession({ engine, display, language });
    testInfo.annotations.push({ type: 'browser', description: driven.version });
    const windows = new Windows(driven.browser);
    try {
      await use(windows);
      if (testInfo.status === testInfo.expectedStatus) {
        expect(await windows.errors(), 'no page errors').toEqual([]);
      }
    } finally {
      await driven.stop();
      if (testInfo.status !== testInfo.expectedStatus) {
        await testInfo.attach('driver output', { body: driven.output(), contentType: 'text/plain' });
      }
    }
  },
});

export { expect };
