// At capacity, a plain EventSource (the README's classic snippet, no page code) is refused
// in a way it obeys: a stream of only `retry:` instead of a `503`, which would make it give
// up for good. It comes back by itself and streams once a slot is free, without a reload.

import http from 'node:http';
import type { Page } from '@playwright/test';
import { expect, test } from './server';

/** The classic snippet from the README, on a page of the server's origin. */
const CLASSIC_PAGE = `<!doctype html>
<meta charset="utf-8">
<title>classic</title>
<script>
const source = new EventSource("/sse");
source.onopen = (e) => console.log("Connected", e);
source.onmessage = (res) => console.log(JSON.parse(res.data));
source.onerror = (e) => console.log(e.target.readyState === EventSource.CLOSED ? "Disconnected" : "Connecting...");
source.addEventListener("close", () => source.close());
</script>`;

/** The promise: a refused client streams this soon after a slot frees up. */
const BACK_WITHIN_MS = 45_000;

/** Holds one stream open from Node, until `release`. */
async function holdStream(url: string): Promise<{ release: () => void }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url + '/sse', (response) => {
      if (response.statusCode !== 200) reject(new Error(`holding stream: ${response.statusCode}`));
      // Its end, when released, is no error of the test.
      response.on('error', () => undefined);
      response.once('data', () => resolve({ release: () => request.destroy() }));
    });
    request.on('error', (err) => {
      if (!request.destroyed) reject(err);
    });
  });
}

/** What the snippet logged: its words, or the events' `index`, in order. */
function recordSnippet(page: Page): (string | number)[] {
  const logged: (string | number)[] = [];
  page.on('console', async (message) => {
    const first = await message.args()[0]?.jsonValue().catch(() => undefined);
    logged.push(typeof first === 'object' && first !== null ? (first as { index: number }).index : String(first));
  });
  return logged;
}

async function rejected(url: string): Promise<number> {
  const text = await (await fetch(url + '/metrics')).text();
  return Number(/^livenames_sse_connections_rejected_total (\d+)$/m.exec(text)?.[1] ?? NaN);
}

test('the classic snippet, refused at capacity, streams once a slot is free', async ({ page, startServer }) => {
  test.setTimeout(120_000);
  // The default --retry-ms, as a deployment has it: the refused client's wait is what it is.
  const server = await startServer(['--max-connections', '1', '--interval-ms', '300']);
  const holder = await holdStream(server.url);
  await page.route(server.url + '/classic', (route) =>
    route.fulfill({ contentType: 'text/html', body: CLASSIC_PAGE }),
  );
  const logged = recordSnippet(page);
  await page.goto(server.url + '/classic');

  await expect.poll(() => rejected(server.url), { message: 'the snippet was refused' }).toBeGreaterThan(0);
  await expect.poll(() => logged, { message: 'and told to come back' }).toContain('Connecting...');
  expect(logged.filter((entry) => typeof entry === 'number'), 'no event while refused').toEqual([]);

  holder.release();
  const freedAt = Date.now();
  await expect
    .poll(() => logged.some((entry) => typeof entry === 'number'), {
      message: `an event within ${BACK_WITHIN_MS / 1000} s of the slot freeing`,
      timeout: BACK_WITHIN_MS,
      intervals: [250],
    })
    .toBe(true);
  const backAfter = Date.now() - freedAt;
  expect(backAfter).toBeLessThan(BACK_WITHIN_MS);
  expect(logged, 'the EventSource never gave up').not.toContain('Disconnected');
  expect(await page.evaluate('source.readyState'), 'and is open').toBe(1);
  test.info().annotations.push({ type: 'back after', description: `${backAfter} ms` });
});
