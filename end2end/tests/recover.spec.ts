// Never silently dead: an EventSource gives up for good on any answer that is not
// `200 text/event-stream` (a proxy's 502 while an instance restarts, an HTML error page).
// The page then finds out why, says so, and reopens from its last id with backoff; only a
// `204` (or the server's `close` event) ends it.

import type { BrowserContext, Page, Route } from '@playwright/test';
import { consecutive, lastIndex, logEntries, recordLog } from './log';
import { startProxy, type CuttingProxy } from './proxy';
import { expect, test, type Server } from './server';

const state = (page: Page) => page.getByTestId('state');
const failure = (page: Page) => page.getByTestId('failure');
const STREAM = '**/sse*';

test.beforeEach(async ({ page }) => recordLog(page));
test.use({ serverArgs: ['--interval-ms', '200', '--retry-ms', '300'] });

/** Opens the page through `proxy` and waits for a few live events. */
async function openLive(page: Page, proxy: CuttingProxy): Promise<void> {
  await page.goto(proxy.url + '/');
  await expect(state(page)).toHaveAttribute('data-state', 'open');
  await expect.poll(() => lastIndex(page)).toBeGreaterThan(2);
}

/** Runs `body` with a proxy that can cut connections in front of `server`. */
async function throughProxy(server: Server, body: (proxy: CuttingProxy) => Promise<void>): Promise<void> {
  const proxy = await startProxy(server.url);
  try {
    await body(proxy);
  } finally {
    await proxy.close();
  }
}

/** Answers every request for the stream with `answer`, counting them. */
async function refuseStream(target: Page | BrowserContext, answer: Parameters<Route['fulfill']>[0]): Promise<string[]> {
  const refused: string[] = [];
  await target.route(STREAM, (route) => {
    refused.push(route.request().url());
    return route.fulfill(answer);
  });
  return refused;
}

const BAD_GATEWAY = { status: 502, contentType: 'text/html', body: '<h1>502 Bad Gateway</h1>' };

test('a refused reconnect is retried with growing waits, then resumes without a gap', async ({ page, server }) => {
  await throughProxy(server, async (proxy) => {
    await openLive(page, proxy);
    const refused = await refuseStream(page, BAD_GATEWAY);
    expect(proxy.cutAll()).toBeGreaterThan(0);

    await expect(state(page)).toHaveAttribute('data-state', 'reconnecting');
    await expect(failure(page)).toHaveAttribute('data-failure', 'status-502');
    await expect(failure(page)).toContainText('HTTP 502');
    await expect(page.getByTestId('retry-in')).toBeVisible();
    // Waits of 0.5-1 s, 1-2 s, 2-4 s…: a few attempts in 4 s, never a tight loop.
    await page.waitForTimeout(4_000);
    expect(refused.length, `attempts in 4 s: ${refused.join(' ')}`).toBeGreaterThanOrEqual(2);
    expect(refused.length, `attempts in 4 s: ${refused.join(' ')}`).toBeLessThanOrEqual(8);

    await page.unroute(STREAM);
    await expect(state(page)).toHaveAttribute('data-state', 'open', { timeout: 40_000 });
    await expect(failure(page)).toHaveCount(0);
    const back = await lastIndex(page);
    await expect.poll(() => lastIndex(page), { message: 'events flow again' }).toBeGreaterThan(back + 1);
    const entries = await logEntries(page);
    expect(entries.filter((entry) => entry.kind === 'gap'), 'resumed from the last id').toEqual([]);
    const { ok, indices } = consecutive(entries);
    expect(ok, `consecutive ids across the refusal: ${indices.join(',')}`).toBe(true);
    await expect(page.getByTestId('reconnects')).toHaveText('1');
  });
});

test('an answer that is not an event stream is named, and retried', async ({ page, server }) => {
  await throughProxy(server, async (proxy) => {
    await openLive(page, proxy);
    await refuseStream(page, { status: 200, contentType: 'text/html', body: '<p>Sign in to the Wi-Fi</p>' });
    proxy.cutAll();
    await expect(failure(page)).toHaveAttribute('data-failure', 'not-a-stream');
    await page.unroute(STREAM);
    await expect(state(page)).toHaveAttribute('data-state', 'open', { timeout: 40_000 });
  });
});

test('a 204 ends the stream for good', async ({ page, server }) => {
  await throughProxy(server, async (proxy) => {
    await openLive(page, proxy);
    const asked = await refuseStream(page, { status: 204 });
    proxy.cutAll();
    await expect(state(page)).toHaveAttribute('data-state', 'closed');
    await expect(failure(page)).toHaveCount(0);
    const atClose = asked.length;
    await page.waitForTimeout(3_000);
    expect(asked.length, 'no request for the stream after the 204').toBe(atClose);
    await expect(state(page)).toHaveAttribute('data-state', 'closed');
  });
});

test('while the leader backs off, the other tabs wait with it and open nothing', async ({ context, server }) => {
  await throughProxy(server, async (proxy) => {
    const leader = await context.newPage();
    await recordLog(leader);
    await openLive(leader, proxy);
    const follower = await context.newPage();
    await recordLog(follower);
    await follower.goto(proxy.url + '/');
    await expect(state(follower)).toHaveAttribute('data-role', 'follower');
    await expect(state(leader)).toHaveAttribute('data-role', 'leader');
    const fromFollower: string[] = [];
    follower.on('request', (request) => {
      if (new URL(request.url()).pathname === '/sse') fromFollower.push(request.url());
    });

    await refuseStream(context, BAD_GATEWAY);
    proxy.cutAll();
    for (const tab of [leader, follower]) {
      await expect(failure(tab)).toHaveAttribute('data-failure', 'status-502');
    }
    await leader.waitForTimeout(2_000);
    await context.unroute(STREAM);
    for (const tab of [leader, follower]) {
      await expect(state(tab)).toHaveAttribute('data-state', 'open', { timeout: 40_000 });
    }
    const back = await lastIndex(follower);
    await expect.poll(() => lastIndex(follower), { message: 'the follower updates again' }).toBeGreaterThan(back);
    expect(fromFollower, 'the follower never asked for the stream itself').toEqual([]);
    await expect(state(follower)).toHaveAttribute('data-role', 'follower');
    const { ok, indices } = consecutive(await logEntries(follower));
    expect(ok, `the follower's ids: ${indices.join(',')}`).toBe(true);
  });
});
