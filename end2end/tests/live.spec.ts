// The live page and its stream, end to end: the release server, the hydrated WASM page, and a
// real Chromium. Every test gets its own server (see ./server.ts), which is its baseURL.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Page } from '@playwright/test';
import { DEFAULT_INTERVAL_MS, REPO_ROOT, expect, test } from './server';

/** The characters names are built from, as the server embeds them. */
const SURNAMES = Array.from(
  readFileSync(path.join(REPO_ROOT, 'server', 'data', 'surnames.txt'), 'utf8').trimEnd(),
);

/** The classic example's rule: `str[i] + str[i + 15] + str[i - 5]`, a missing one adds nothing. */
function nameAt(i: number): string {
  return [i, i + 15, i - 5].map((p) => SURNAMES[p] ?? '').join('');
}

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

const state = (page: Page) => page.getByTestId('state');
const index = (page: Page) => page.getByTestId('index');
const rows = (page: Page) => page.locator('table[data-testid="names"] tbody tr');

/** One consistent read of what the table shows (a single evaluate, so no event slips between). */
async function snapshot(page: Page) {
  return page.evaluate(() => {
    const indexText = document.querySelector('[data-testid="index"]')?.textContent ?? null;
    const trs = Array.from(document.querySelectorAll('table[data-testid="names"] tbody tr'));
    return {
      indexText,
      rows: trs.map((tr) => ({
        dataValue: tr.getAttribute('data-value'),
        cells: Array.from(tr.querySelectorAll('td')).map((td) => td.textContent ?? ''),
      })),
    };
  });
}

async function currentIndex(page: Page): Promise<number> {
  return Number(await index(page).textContent());
}

/**
 * Records every change to the live parts of the page for `ms`, bounded, then returns them.
 * Used where a test must show that nothing happens any more; the "updated N s ago" clock,
 * which ticks by design, is left out.
 */
async function changesDuring(page: Page, ms: number): Promise<string[]> {
  return page.evaluate(async (ms) => {
    const changes: string[] = [];
    const observer = new MutationObserver((records) => {
      for (const record of records) {
        const target = record.target instanceof Element ? record.target : record.target.parentElement;
        // Clocks tick: "updated N s ago" and the countdown to the next attempt.
        if (target?.closest('[data-testid="updated-ago"], [data-testid="retry-in"]')) continue;
        changes.push(`${record.type} on ${target?.outerHTML.slice(0, 120) ?? '?'}`);
      }
    });
    observer.observe(document.querySelector('main') ?? document.body, {
      subtree: true,
      childList: true,
      attributes: true,
      characterData: true,
    });
    await new Promise((resolve) => setTimeout(resolve, ms));
    observer.disconnect();
    return changes;
  }, ms);
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
  await expect(page).toHaveTitle('livenames');
  await expect(page.locator('h1')).toHaveText('livenames');
  await expect(state(page)).toBeVisible();
  await expect(state(page)).toHaveAttribute('data-state', /^(connecting|open)$/);
  await expect(page.locator('table[data-testid="names"] thead th')).toHaveCount(2);
  await expect(page.getByTestId('skipped')).toHaveCount(0);
  await expect(page.getByTestId('no-js'), 'hydration removes the no-JavaScript notice').toHaveCount(0);
});

test('the first HTML already holds the latest event, also without JavaScript', async ({ browser, request }) => {
  // Wait until an event exists: a one-event stream ends after it.
  const stream = await (await request.get('/sse?limit=1')).text();
  const id = /^id: (\S+)$/m.exec(stream)?.[1];
  expect(id, stream).toMatch(/^\d+-\d+$/);

  const html = await (await request.get('/')).text();
  expect(html.match(/<tr[^>]*data-value="\d+"/g) ?? [], 'ten table rows').toHaveLength(10);
  expect(html).toContain('data-testid="index"');

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
  await expect(rows(page)).toHaveCount(10);
  const before = await snapshot(page);
  expect(before.indexText).toMatch(/^\d+$/);
  expect(before.rows).toHaveLength(10);
  const firstIndex = Number(before.indexText);
  expect(firstIndex).toBeGreaterThanOrEqual(1);

  await expect
    .poll(() => currentIndex(page), { message: 'the index grows with the next event' })
    .toBeGreaterThan(firstIndex);
  const after = await snapshot(page);

  expect(Number(after.indexText)).toBeGreaterThan(firstIndex);
  expect(after.indexText).not.toBe(before.indexText);
  expect(after.rows).toHaveLength(10);
  // Ten positions drawn at random out of 568: the same list twice means the rows were not redrawn.
  expect(after.rows.map((row) => row.dataValue)).not.toEqual(before.rows.map((row) => row.dataValue));
  for (const { rows: shown } of [before, after]) {
    for (const row of shown) {
      expect(row.dataValue).toMatch(/^\d+$/);
      const value = Number(row.dataValue);
      expect(value).toBeLessThan(SURNAMES.length);
      expect(row.cells).toHaveLength(2);
      const [name, valueCell] = row.cells;
      expect(valueCell).toBe(row.dataValue);
      expect(name.trim()).not.toBe('');
      expect(name, `the name for position ${value}`).toBe(nameAt(value));
    }
  }
  await expect(page.getByTestId('skipped')).toHaveCount(0);
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

  test('its close event turns the state closed and the last index stays', async ({ page, request }) => {
    await page.goto('/');
    await expect(state(page)).toHaveAttribute('data-state', 'closed', { timeout: 10_000 });
    await expect(state(page), 'the badge says who closed it').toContainText('closed by server');
    await expect(index(page)).toHaveText('3');
    await expect(rows(page)).toHaveCount(10);

    // Nothing changes any more, and the page does not ask for the stream again.
    const sseRequests: string[] = [];
    page.on('request', (req) => {
      if (new URL(req.url()).pathname === '/sse') sseRequests.push(req.url());
    });
    const changes = await changesDuring(page, 3 * intervalMs);
    expect(changes, 'DOM changes after the stream closed').toEqual([]);
    expect(sseRequests, 'requests to /sse after the stream closed').toEqual([]);
    await expect(state(page)).toHaveAttribute('data-state', 'closed');
    await expect(index(page)).toHaveText('3');

    // The server tells later requests the stream is over.
    const late = await request.get('/sse');
    expect(late.status()).toBe(204);
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
