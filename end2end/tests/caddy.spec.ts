// HTTPS and HTTP/2 at the proxy, as the README deploys it: livenames behind Debian's Caddy with
// the README's configuration and `tls internal` (./caddy.ts). Caddy's CA is this test's own, so
// the browser context of this file ignores certificate errors (Playwright's
// `ignoreHTTPSErrors`, Chromium's `--ignore-certificate-errors` for this context only); every
// other test keeps Chromium's checks.

import type { BrowserContext, Page } from '@playwright/test';
import { expectRestartRecovered, expectState } from './checks';
import { lastIndex, logEntries, recordLog } from './log';
import { expect, test, type Instance } from './server';

test.use({ ignoreHTTPSErrors: true });

/** An event a second: an event that Caddy held back would show as a delay of about that much. */
const INTERVAL_MS = 1_000;
const FLAGS = ['--interval-ms', String(INTERVAL_MS), '--retry-ms', '300', '--shutdown-timeout-secs', '2'];
const DOWN_MS = 4_000;

/** The instance's open streams written by `writer` (`lean` or `hyper`), from its `/metrics`. */
async function streams(instance: Instance, writer: string): Promise<number> {
  const metrics = await (await fetch(instance.url + '/metrics')).text();
  const match = new RegExp(`^livenames_sse_streams\\{writer="${writer}"\\} (\\d+)$`, 'm').exec(metrics);
  if (!match) throw new Error(`no livenames_sse_streams{writer="${writer}"} in /metrics:\n${metrics}`);
  return Number(match[1]);
}

/** Opens a tab of `context` on `url`, recording its log, and checks it came over h2 from Caddy. */
async function openTab(context: BrowserContext, url: string): Promise<Page> {
  const tab = await context.newPage();
  await recordLog(tab);
  const response = await tab.goto(url + '/');
  expect(response?.headers()['server'], 'the page came through Caddy').toBe('Caddy');
  const protocol = await tab.evaluate(
    () => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).nextHopProtocol,
  );
  expect(protocol, 'the page came over HTTP/2').toBe('h2');
  await expectState(tab, 'open');
  return tab;
}

/** The delivery delays (receive time − `info`, ms) of the events the log shows with one. */
function delays(page: Page): Promise<number[]> {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll('[data-testid="event-log"] [data-testid="delay"]')).map((cell) =>
      Number(cell.textContent),
    ),
  );
}

test('through Caddy over HTTPS and HTTP/2: one lean stream for all tabs, events unbuffered, back after a restart', async ({
  context,
  startCaddy,
  startInstance,
}) => {
  test.slow(); // Seconds of downtime, and three tabs waiting it out.
  const instance = await startInstance(FLAGS);
  const caddy = await startCaddy([instance.addr]);
  const tabs: Page[] = [];
  for (let i = 0; i < 3; i++) tabs.push(await openTab(context, caddy.url));

  await expect.poll(() => streams(instance, 'lean'), { message: 'one upstream stream for the three tabs' }).toBe(1);
  expect(await streams(instance, 'hyper')).toBe(0);

  // Each event reaches the page before the next one is published: a proxy that buffered the
  // stream would hold an event until the next pushed it out, a whole interval or more. (The
  // delay is taken when the page's handler runs, so a main thread busy hydrating three tabs
  // on a loaded machine adds to it: half an interval was too tight a bound for that.)
  await expect.poll(async () => (await delays(tabs[0])).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
  for (const delay of await delays(tabs[0])) {
    expect(delay, 'delivery delay through Caddy, ms').toBeGreaterThanOrEqual(0);
    expect(delay, 'delivery delay through Caddy, ms').toBeLessThan(INTERVAL_MS);
  }

  await expectRestartRecovered(
    tabs[0],
    async () => {
      await instance.stop();
      const whileDown = await context.request.get(caddy.url + '/healthz');
      expect(whileDown.status(), 'Caddy answers 502 while livenames is down').toBe(502);
    },
    async () => {
      await tabs[0].waitForTimeout(DOWN_MS);
      await instance.start();
    },
  );
  // The other tabs follow the leader into the new run, marked by a gap in their logs too.
  for (const tab of tabs.slice(1)) {
    await expectState(tab, 'open');
    await expect.poll(async () => (await logEntries(tab)).some((entry) => entry.kind === 'gap')).toBe(true);
    const now = await lastIndex(tab);
    await expect.poll(() => lastIndex(tab), { message: 'every tab updates again' }).toBeGreaterThan(now);
  }
  await expect.poll(() => streams(instance, 'lean'), { message: 'still one upstream stream' }).toBe(1);
});
