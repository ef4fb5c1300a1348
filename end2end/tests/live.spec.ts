// The live page and its stream, end to end: the release server, the hydrated WASM page, and a
// real Chromium. Every test gets its own server (see ./server.ts), which is its baseURL.

import type { Page } from '@playwright/test';
import {
  changesDuring,
  expectClosedByServer,
  expectHydrated,
  expectServerRendered,
  expectTableAdvances,
  nameAt,
} from './checks';
import { DEFAULT_INTERVAL_MS, expect, test } from './server';

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

const state = (page: Page) => page.getByTestId('state');
const index = (page: Page) => page.getByTestId('index');
const rows = (page: Page) => page.locator('table[data-testid="names"] tbody tr');

async function currentIndex(page: Page): Promise<number> {
  return Number(await index(page).textContent());
}

test('the page renders on the server and in the browser', async ({ page, request, startServer }) => {
  // No event for a minute: the page as it is before the first one.
  const quiet = await startServer(['--interval-ms', '60000']);
  const response = await request.get(quiet.url + '/');
  expect(response.status()).toBe(200);
  expect(response.headers()['content-type']).toContain('text/html');
  const html = await response.text();
  expect(html).toMatch(/<title[^>]*>livenames<\/title>/);
  expect(html).toMatch(/<table[^>]*data-testid="names"/);
  expect(html).toMatch(/<th[^>]*>Name<\/th>/);
  expect(html).toMatch(/<th[^>]*>Value<\/th>/);
  // Before the first event: connecting, no rows, no index; the hydration script is linked.
  expect(html).toMatch(/data-testid="state"[^>]*data-state="connecting"|data-state="connecting"[^>]*data-testid="state"/);
  expect(html).not.toContain('data-value=');
  expect(html).not.toContain('data-testid="index"');
  expect(html).toContain('/pkg/livenames.js');

  await page.goto(quiet.url + '/');
  await expect(state(page)).toBeVisible();
  await expectHydrated(page);
});

test('the first HTML already holds the latest event, also without JavaScript', async ({ browser, request }) => {
  // Wait until an event exists: a one-event stream ends after it.
  const stream = await (await request.get('/sse?limit=1')).text();
  const id = /^id: (\S+)$/m.exec(stream)?.[1];
  expect(id, stream).toMatch(/^\d+-\d+$/);

  expectServerRendered(await (await request.get('/')).text());

  const context = await browser.newContext({ javaScriptEnabled: false });
  try {
    const page = await context.newPage();
    await page.goto('/');
    await expect(rows(page)).toHaveCount(10);
    await expect(index(page)).toHaveText(/^\d+$/);
    const notice = page.getByTestId('no-js');
    await expect(notice, 'without JavaScript the page says so').toBeVisible();
    await expect(notice.getByRole('link', { name: 'Refresh' })).toHaveAttribute('href', '/');
  } finally {
    await context.close();
  }
});

test('the table fills with 10 rows and changes on the next event', async ({ page }) => {
  await page.goto('/');
  await expectTableAdvances(page);
});

test('the state shows open while events arrive', async ({ page }) => {
  await page.goto('/');
  await expect(state(page)).toHaveAttribute('data-state', 'open');
  await expect(index(page)).toHaveText(/^\d+$/);
  await expect(state(page)).toHaveAttribute('data-state', 'open');
});

test("the page's own stream is written by the lean writers", async ({ page, request }) => {
  // Chromium sends its EventSource on a connection that already carried the page's files:
  // the connection layer must still hand it to the per-thread writers, not to hyper.
  await page.goto('/');
  await expect(state(page)).toHaveAttribute('data-state', 'open');
  const metrics = await (await request.get('/metrics')).text();
  const streams = (writer: string) =>
    Number(new RegExp(`^livenames_sse_streams\\{writer="${writer}"\\} (\\d+)$`, 'm').exec(metrics)?.[1]);
  expect(streams('lean'), metrics).toBe(1);
  expect(streams('hyper'), metrics).toBe(0);
});

test.describe('when the server ends the stream', () => {
  // Long enough that a slow first hydration still sees the stream before its 3rd event.
  const intervalMs = 1_000;
  test.use({ serverArgs: ['--interval-ms', String(intervalMs), '--max-events', '3'] });

  test('its close event turns the state closed and the last index stays', async ({ page, server }) => {
    // Every request the browser sends for the stream.
    const sseRequests: string[] = [];
    page.on('request', (req) => {
      if (new URL(req.url()).pathname === '/sse') sseRequests.push(req.url());
    });
    await page.goto('/');
    await expectClosedByServer(page, intervalMs, server.url, () => sseRequests.length);
  });
});

test.describe('when the server goes away', () => {
  test.use({ serverArgs: ['--interval-ms', String(DEFAULT_INTERVAL_MS), '--retry-ms', '60000'] });

  test('the state turns reconnecting', async ({ page, server }) => {
    await page.goto('/');
    await expect(state(page)).toHaveAttribute('data-state', 'open');
    await expect(rows(page)).toHaveCount(10);

    await server.stop();
    expect(server.proc.exitCode, `server output:\n${server.output()}`).toBe(0);

    await expect(state(page)).toHaveAttribute('data-state', 'reconnecting');
    // The browser waits the 60 s `retry:` before trying again, so it stays reconnecting
    // (not closed) and keeps the last names on screen for a while.
    const changes = await changesDuring(page, 1_000);
    expect(changes, 'DOM changes while waiting to reconnect').toEqual([]);
    await expect(state(page)).toHaveAttribute('data-state', 'reconnecting');
    await expect(rows(page)).toHaveCount(10);
  });
});

test.describe('when the browser goes offline', () => {
  test.use({ serverArgs: ['--interval-ms', String(DEFAULT_INTERVAL_MS), '--retry-ms', '300'] });

  test('the badge says offline, then the stream comes back', async ({ page, context }) => {
    await page.goto('/');
    await expect(state(page)).toHaveAttribute('data-state', 'open');
    await context.setOffline(true);
    await expect(state(page)).toHaveAttribute('data-state', 'offline');
    await context.setOffline(false);
    await expect(state(page)).toHaveAttribute('data-state', 'open', { timeout: 10_000 });
    const before = await currentIndex(page);
    await expect.poll(() => currentIndex(page), { message: 'events flow again' }).toBeGreaterThan(before);
  });
});

test('an event that cannot be read is skipped with a notice, and the stream goes on', async ({ page }) => {
  // The real server never sends malformed data, so this one stream is written by hand.
  const list = (offset: number) =>
    Array.from({ length: 10 }, (_, i) => ({ name: nameAt(i + offset), value: i + offset }));
  const event = (index: number, data: string) => `retry: 60000\nid: 7-${index}\ndata: ${data}\n\n`;
  const good = (index: number) => event(index, JSON.stringify({ list: list(index * 10), info: '2026-11-24T10:00:00.000Z', index }));
  await page.route('**/sse*', (route) =>
    route.fulfill({
      status: 200,
      headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' },
      body: good(1) + event(2, '{"list": not json') + good(3) + event(4, '{"index":4}'),
    }),
  );
  await page.goto('/');
  // Event 3 was shown after event 2 was skipped; event 4 lacks fields and is skipped too.
  await expect(index(page)).toHaveText('3');
  await expect(page.getByTestId('skipped')).toBeVisible();
  await expect(page.getByTestId('skipped')).toContainText('missing field');
  const values = await rows(page).evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-value')));
  expect(values).toEqual(list(30).map((entry) => String(entry.value)));
});

test('an unknown path is a 404 page', async ({ page }) => {
  const response = await page.goto('/no-such-page');
  expect(response?.status()).toBe(404);
  await expect(page.getByTestId('not-found')).toBeVisible();
  await expect(page.getByTestId('state')).toHaveCount(0);
});

test("the classic example's browser snippet works unchanged against /sse", async ({ page, server }) => {
  await page.goto('/');
  type Payload = { list: { name: string; value: number }[]; info: string; index: number };
  const result = await page.evaluate(
    (url) =>
      new Promise<{
        messages: Payload[];
        ids: string[];
        opened: number;
        errors: number;
        readyState: number;
        closeData: unknown;
      }>((resolve, reject) => {
        const messages: Payload[] = [];
        const ids: string[] = [];
        let opened = 0;
        let errors = 0;
        const source = new EventSource(url + '/sse?limit=2');
        const timer = setTimeout(() => {
          source.close();
          reject(new Error(`no close event within 10 s (${messages.length} messages, ${errors} errors)`));
        }, 10_000);
        source.onopen = function () {
          opened += 1;
        };
        source.onmessage = function (res) {
          messages.push(JSON.parse(res.data));
          ids.push(res.lastEventId);
        };
        source.onerror = function () {
          errors += 1;
        };
        source.addEventListener(
          'close',
          function (e) {
            source.close();
            clearTimeout(timer);
            resolve({
              messages,
              ids,
              opened,
              errors,
              readyState: source.readyState,
              closeData: (e as MessageEvent).data,
            });
          },
          false,
        );
      }),
    server.url,
  );

  expect(result.opened).toBe(1);
  expect(result.errors).toBe(0);
  expect(result.readyState).toBe(2); // EventSource.CLOSED
  expect(typeof result.closeData).toBe('string');
  expect(result.messages).toHaveLength(2);

  const [first, second] = result.messages;
  expect(second.index).toBe(first.index + 1);
  for (const [i, message] of result.messages.entries()) {
    expect(Object.keys(message).sort()).toEqual(['index', 'info', 'list']);
    expect(Number.isInteger(message.index) && message.index >= 1).toBe(true);
    expect(message.info).toMatch(ISO_UTC);
    expect(Number.isNaN(Date.parse(message.info))).toBe(false);
    expect(message.list).toHaveLength(10);
    for (const entry of message.list) {
      expect(Object.keys(entry).sort()).toEqual(['name', 'value']);
      expect(typeof entry.name).toBe('string');
      expect(entry.name).not.toBe('');
      expect(Number.isInteger(entry.value)).toBe(true);
      expect(entry.name).toBe(nameAt(entry.value));
    }
    // `id: <epoch>-<index>`, the index being the payload's.
    const id = result.ids[i];
    expect(id).toMatch(/^\d+-\d+$/);
    expect(id.split('-')[1]).toBe(String(message.index));
  }
  expect(result.ids[0].split('-')[0]).toBe(result.ids[1].split('-')[0]);
  expect(Date.parse(second.info)).toBeGreaterThanOrEqual(Date.parse(first.info));
});
