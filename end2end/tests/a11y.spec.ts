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
