// Accessibility: an axe-core scan of the live page, and what screen readers are told.
import AxeBuilder from '@axe-core/playwright';
import { expect, test } from './server';

test('the live page has no serious or critical accessibility violations', async ({ page, request }) => {
  await (await request.get('/sse?limit=1')).text(); // an event exists, so the table is full
  await page.goto('/');
  await expect(page.getByTestId('state')).toHaveAttribute('data-state', 'open');
  await page.locator('details.log summary').click();
  const results = await new AxeBuilder({ page }).analyze();
  const serious = results.violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => `${violation.id}: ${violation.help} (${violation.nodes.length} nodes)`);
  expect(serious).toEqual([]);
});

test('connection changes are announced, row updates are not', async ({ page }) => {
  await page.goto('/');
  const live = page.locator('[aria-live]');
  await expect(live).toHaveCount(1);
  await expect(live).toHaveAttribute('aria-live', 'polite');
  await expect(live).toContainText('open');
  // Neither the table nor the per-event counts sit inside it.
  await expect(live.locator('table')).toHaveCount(0);
  await expect(live.getByTestId('received')).toHaveCount(0);
});

test('the pause control works from the keyboard', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('state')).toHaveAttribute('data-state', 'open');
  await page.getByTestId('pause-toggle').focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('state')).toHaveAttribute('data-state', 'paused');
  await page.keyboard.press('Space');
  await expect(page.getByTestId('state')).toHaveAttribute('data-state', 'open');
});

test('the chart is one image, named, with the values as its description, and never live', async ({
  page,
  request,
  startServer,
}) => {
  // Two events, then the stream ends; read to its end first, so the page is rendered with
  // the last event and holds still while it is read.
  const server = await startServer(['--interval-ms', '300', '--max-events', '2']);
  await (await request.get(server.url + '/sse')).text();
  await page.goto(server.url + '/');
  await expect(page.getByTestId('state')).toHaveAttribute('data-state', 'closed');
  const chart = page.getByTestId('chart');
  await expect(chart).toHaveAccessibleName(/\S/);
  // Each row's name and value, in table order, from the table beside it.
  const cells = await page.locator('table[data-testid="names"] tbody tr').evaluateAll((trs) =>
    trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent).join(' ')),
  );
  expect(cells).toHaveLength(10);
  await expect(chart).toHaveAccessibleDescription(new RegExp(`^${cells.join('\\W+')}$`));
  // One node for assistive technology: the bars and their labels are not read one by one.
  expect((await chart.ariaSnapshot()).trim().split('\n')).toHaveLength(1);
  await expect(chart).toMatchAriaSnapshot('- img');
  // Nothing announces the chart when an event changes it.
  expect(await chart.evaluate((figure) => figure.closest('[aria-live]') === null)).toBe(true);
  await expect(chart.locator('[aria-live]')).toHaveCount(0);
});
