// Resuming without loss: the page survives cut connections and server restarts, and the ids
// it received (its event log) show exactly what reached it.

import type { Page } from '@playwright/test';
import { expectPauseResumeWithoutGap, expectRestartRecovered } from './checks';
import { lastIndex, logEntries, parseId, recordLog } from './log';
import { startProxy } from './proxy';
import { expect, test } from './server';

const state = (page: Page) => page.getByTestId('state');

test.beforeEach(async ({ page }) => recordLog(page));

test.describe('through a network that drops connections', () => {
  test.use({ serverArgs: ['--interval-ms', '200', '--retry-ms', '300'] });

  test('ten cuts lose no event and repeat none', async ({ page, server }) => {
    const proxy = await startProxy(server.url);
    try {
      await page.goto(proxy.url + '/');
      await expect(state(page)).toHaveAttribute('data-state', 'open');
      for (let cut = 1; cut <= 10; cut++) {
        const before = await lastIndex(page);
        // Wait for live traffic on the current connection, then cut it.
        await expect.poll(() => lastIndex(page), { message: `an event before cut ${cut}` }).toBeGreaterThan(before);
        expect(proxy.cutAll(), `connections open at cut ${cut}`).toBeGreaterThan(0);
        await expect(state(page)).toHaveAttribute('data-state', /^(reconnecting|open)$/);
      }
      const afterCuts = await lastIndex(page);
      await expect.poll(() => lastIndex(page), { message: 'events flow after the last cut' }).toBeGreaterThan(afterCuts + 1);
      await expect(state(page)).toHaveAttribute('data-state', 'open');

      await expect(page.getByTestId('reconnects'), 'each cut is one reconnect').toHaveText('10');
      const entries = await logEntries(page);
      expect(entries.filter((entry) => entry.kind === 'gap'), 'no gap while history covers the cuts').toEqual([]);
      const ids = entries.map((entry) => parseId(entry.id));
      expect(new Set(ids.map((id) => id.epoch)).size, 'one epoch').toBe(1);
      const indices = ids.map((id) => id.index);
      const expected = Array.from({ length: indices.length }, (_, i) => indices[0] + i);
      expect(indices, 'consecutive: no gap, no duplicate').toEqual(expected);
    } finally {
      await proxy.close();
    }
  });
});

test.describe('over a link that goes silent without closing', () => {
  // Dead after 2.5 × max(200 ms, 1 s) = 2.5 s without data or ping.
  test.use({ serverArgs: ['--interval-ms', '200', '--keepalive-secs', '1', '--retry-ms', '300'] });

  test('the page reopens from the last id and says so', async ({ page, server }) => {
    const proxy = await startProxy(server.url);
    try {
      await page.goto(proxy.url + '/');
      await expect(state(page)).toHaveAttribute('data-state', 'open');
      await expect.poll(() => lastIndex(page)).toBeGreaterThan(2);
      expect(proxy.silenceStreams(), "the page's stream, silenced").toBe(1);
      const atFreeze = await lastIndex(page);

      await expect(page.getByTestId('silent-reopens')).toHaveText('1', { timeout: 10_000 });
      await expect(state(page)).toHaveAttribute('data-state', 'open');
      await expect.poll(() => lastIndex(page), { message: 'events flow again' }).toBeGreaterThan(atFreeze + 2);
      await expect(page.getByTestId('reconnects'), 'the browser itself never noticed').toHaveText('0');

      const indices = (await logEntries(page)).map((entry) => parseId(entry.id).index);
      const expected = Array.from({ length: indices.length }, (_, i) => indices[0] + i);
      expect(indices, 'consecutive across the silent link: no gap, no duplicate').toEqual(expected);
    } finally {
      await proxy.close();
    }
  });
});

test.describe('pausing', () => {
  const intervalMs = 300;
  test.use({ serverArgs: ['--interval-ms', String(intervalMs)] });

  test('for three intervals, then resuming, loses no event', async ({ page, request }) => {
    // Make sure an event exists, so the page is rendered with it (the log's first entry).
    await (await request.get('/sse?limit=1')).text();
    await page.goto('/');
    await expectPauseResumeWithoutGap(page, intervalMs);
  });
});

test('a server restart under an open page shows the gap and recovers', async ({ page, startServer }) => {
  const first = await startServer(['--interval-ms', '200', '--retry-ms', '300']);
  await page.goto(first.url + '/');
  // The same address, a new run: its epoch differs, so the page's Last-Event-ID is foreign.
  const addr = new URL(first.url).host;
  await expectRestartRecovered(
    page,
    () => first.stop(),
    async () => {
      await startServer(['--addr', addr, '--interval-ms', '200', '--retry-ms', '300']);
    },
  );
});
