// Takes docs/screenshot.png: the page a few events in, with its chart and highlights.
import path from 'node:path';
import { REPO_ROOT, expect, test } from '../tests/server';

test.use({ serverArgs: ['--interval-ms', '1500'], viewport: { width: 800, height: 1000 } });

test('README screenshot', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('state')).toHaveAttribute('data-state', 'open');
  await expect.poll(async () => Number(await page.getByTestId('index').textContent())).toBeGreaterThan(2);
  // The bars at their values and the highlight faded: the next event is 1.5 s away.
  await page.evaluate(() => Promise.all(document.getAnimations().map((animation) => animation.finished)));
  await page.locator('details.log summary').click();
  await page.screenshot({ path: path.join(REPO_ROOT, 'docs', 'screenshot.png'), fullPage: true });
});
