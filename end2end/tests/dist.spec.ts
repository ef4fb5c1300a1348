// The deployable folder (`make dist`: dist/ with the release server and its site/), run as the
// README's deploy section says: its page hydrates and streams in Chromium, and no request of
// the page fails (its icon included). A page of another build is never hydrated.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, expect, test } from './server';

const DIST = path.join(REPO_ROOT, 'dist');

test('the dist folder serves a page that hydrates and streams', async ({ page, startServer }) => {
  for (const file of ['server', 'site/pkg/livenames.wasm']) {
    expect(existsSync(path.join(DIST, file)), `dist/${file}: run \`make dist\` first`).toBe(true);
  }
  const server = await startServer(['--interval-ms', '300'], {
    bin: path.join(DIST, 'server'),
    cwd: DIST,
    env: { LEPTOS_SITE_ROOT: 'site' },
  });
  const failed: string[] = [];
  page.on('response', (response) => {
    if (response.status() >= 400) failed.push(`${response.status()} ${response.url()}`);
  });
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });

  await page.goto(server.url + '/');
  await expect(page.getByTestId('no-js'), 'hydrated').toHaveCount(0);
  await expect(page.getByTestId('state')).toHaveAttribute('data-state', 'open');
  const index = async () => Number(await page.getByTestId('index').textContent());
  const first = await index();
  await expect.poll(index, { message: 'events stream in' }).toBeGreaterThan(first);

  const iconHref = await page.locator('link[rel="icon"]').getAttribute('href');
  const icon = await page.request.get(server.url + iconHref);
  expect(icon.status()).toBe(200);
  expect(icon.headers()['content-type']).toBe('image/svg+xml');
  expect(icon.headers()['cache-control']).toContain('max-age=');
  expect(failed, 'every request of the page succeeded').toEqual([]);
  expect(errors, 'no error in the console').toEqual([]);
});

test('a page of another build is left as rendered, not hydrated halfway', async ({ page, server }) => {
  // The HTML as a server of another build renders it: its build id differs from the script's.
  await page.route(server.url + '/', async (route) => {
    const response = await route.fetch();
    const html = (await response.text()).replace(
      /(<meta name="livenames-build" content=")[^"]*"/,
      '$1livenames-build:release-0000000000000000"',
    );
    await route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: html });
  });
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  const panics: string[] = [];
  page.on('pageerror', (error) => panics.push(error.message));

  await page.goto(server.url + '/');
  await expect.poll(() => errors.join('\n'), { message: 'the script says why' }).toContain('not hydrating');
  await expect(page.getByTestId('names'), 'the rendered page still reads').toBeVisible();
  await expect(page.getByTestId('no-js'), 'and is not hydrated').toHaveCount(1);
  expect(panics, 'no panic halfway through hydration').toEqual([]);
});
