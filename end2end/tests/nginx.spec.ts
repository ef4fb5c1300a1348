// Deploys as readers live them: livenames behind Debian's nginx with the README's configuration
// (see ./nginx.ts), restarted under open pages. nginx answers `502 Bad Gateway` while no
// instance is up; a page must come back by itself and its log must account for every event.

import type { APIRequestContext, Browser, Page } from '@playwright/test';
import { lastIndex, logEntries, parseId, recordLog, silentHoles, type LogEntry } from './log';
import type { Nginx } from './nginx';
import { expect, test, type Instance } from './server';

const state = (page: Page) => page.getByTestId('state');

/** Quick events and reconnects, and a short shutdown: a restart takes seconds, not minutes. */
const FLAGS = ['--interval-ms', '200', '--retry-ms', '300', '--shutdown-timeout-secs', '2'];

/** How long an instance stays down in a restart: a quick deploy. */
const DOWN_MS = 4_500;

/** The epochs (server runs) of the events in `entries`, in order of appearance. */
function epochs(entries: LogEntry[]): string[] {
  const runs = entries.filter((entry) => entry.kind === 'event').map((entry) => parseId(entry.id).epoch);
  return [...new Set(runs)];
}

/** Waits until the page shows at least `count` more events than it has now. */
async function moreEvents(page: Page, count: number, message: string): Promise<void> {
  const now = await lastIndex(page);
  await expect.poll(() => lastIndex(page), { message, timeout: 15_000 }).toBeGreaterThanOrEqual(now + count);
}

/** Loads the page from `nginx`, recording its log, and waits until its stream is open. */
async function openThrough(nginx: Nginx, page: Page): Promise<Page> {
  await recordLog(page);
  const response = await page.goto(nginx.url + '/');
  expect(response?.headers()['server'], 'the page came through nginx').toMatch(/^nginx\b/);
  await expect(state(page)).toHaveAttribute('data-state', 'open');
  return page;
}

/** A page in a browser context of its own: the tabs of one context would share a connection. */
async function ownPage(browser: Browser): Promise<Page> {
  return (await browser.newContext()).newPage();
}

/** `/healthz` of one instance, asked directly (not through nginx). */
async function health(request: APIRequestContext, instance: Instance): Promise<{ status: string; subscribers: number }> {
  return (await request.get(`${instance.url}/healthz`)).json();
}

test('a restart behind nginx: the page comes back by itself and marks the new run', async ({
  page,
  request,
  startInstance,
  startNginx,
}) => {
  test.slow(); // A restart with seconds of downtime, and a browser waiting it out.
  const instance = await startInstance(FLAGS);
  const nginx = await startNginx([instance.addr]);
  // Statuses of the page's own requests for the stream, as nginx answered them.
  const streamStatuses: number[] = [];
  page.on('response', (response) => {
    if (new URL(response.url()).pathname === '/sse') streamStatuses.push(response.status());
  });
  await openThrough(nginx, page);
  await moreEvents(page, 3, 'events stream through nginx');
  const [firstRun] = epochs(await logEntries(page));

  await instance.stop();
  const downSince = Date.now();
  const whileDown = await request.get(`${nginx.url}/healthz`);
  expect(whileDown.status(), 'nginx answers 502 while livenames is down').toBe(502);
  await expect
    .poll(() => streamStatuses.includes(502), { message: "the page's reconnect met nginx's 502" })
    .toBe(true);
  await expect(state(page), 'the page notices').not.toHaveAttribute('data-state', 'open');
  await page.waitForTimeout(Math.max(0, DOWN_MS - (Date.now() - downSince)));
  await instance.start();

  await expect(state(page), 'the page reopens by itself').toHaveAttribute('data-state', 'open', { timeout: 30_000 });
  const newRunEvents = async () =>
    (await logEntries(page)).filter((entry) => entry.kind === 'event' && parseId(entry.id).epoch !== firstRun).length;
  await expect.poll(newRunEvents, { message: 'events of the new run arrive', timeout: 15_000 }).toBeGreaterThanOrEqual(3);
  const entries = await logEntries(page);
  const runs = epochs(entries);
  expect(runs, 'events of the first run, then of the new one (no reload)').toHaveLength(2);
  expect(runs[0]).toBe(firstRun);
  expect(entries.filter((entry) => entry.kind === 'gap'), 'the new run is marked as a gap').toHaveLength(1);
  expect(silentHoles(entries), 'every event missed is replayed or marked, none silently lost').toEqual([]);
});

test('a rolling restart of two instances sharing Redis keeps every page updating without a gap', async ({
  browser,
  request,
  startInstance,
  startNginx,
  startRedis,
}) => {
  test.slow(); // Two restarts, one after the other, under three browser contexts.
  const redis = await startRedis();
  const flags = [...FLAGS, '--redis-url', redis.url];
  const instances = await Promise.all([startInstance(flags), startInstance(flags)]);
  const nginx = await startNginx(instances.map((instance) => instance.addr));
  const pages: Page[] = [];
  try {
    for (let i = 0; i < 3; i++) pages.push(await openThrough(nginx, await ownPage(browser)));

    for (const [i, instance] of instances.entries()) {
      if (i > 0) {
        // Every page left the first instance when it stopped, for the one that stayed.
        const streams = async () => (await health(request, instance)).subscribers;
        await expect.poll(streams, { message: 'streams on the instance to stop' }).toBe(pages.length);
      }
      await instance.stop();
      for (const [p, page] of pages.entries()) await moreEvents(page, 3, `page ${p + 1} updates while instance ${i + 1} is down`);
      await instance.start();
      const status = async () => (await health(request, instance)).status;
      await expect.poll(status, { message: `instance ${i + 1} healthy again`, timeout: 15_000 }).toBe('ok');
    }

    for (const [p, page] of pages.entries()) {
      await moreEvents(page, 3, `page ${p + 1} updates after the rolling restart`);
      await expect(state(page)).toHaveAttribute('data-state', 'open');
      const entries = await logEntries(page);
      expect(entries.filter((entry) => entry.kind === 'gap'), `page ${p + 1}: no gap`).toEqual([]);
      expect(epochs(entries), `page ${p + 1}: one run throughout`).toHaveLength(1);
      expect(silentHoles(entries), `page ${p + 1}: consecutive ids`).toEqual([]);
    }
  } finally {
    await Promise.all(pages.map((page) => page.context().close()));
  }
});
