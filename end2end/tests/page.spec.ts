// The page itself: its languages, the event log, the reconnect countdown, a phone's width.

import type { Page } from '@playwright/test';
import { expectFitsWidth, expectLanguageToggleSurvivesReload, expectLogOfTwenty } from './checks';
import { expect, test } from './server';

const state = (page: Page) => page.getByTestId('state');

test.describe('in a browser that prefers Chinese', () => {
  test.use({ locale: 'zh-CN' });

  test('the page is rendered in Chinese, and the toggle switches to English for good', async ({ page }) => {
    await page.goto('/');
    await expectLanguageToggleSurvivesReload(page, 'zh-CN');
  });
});

test('a browser that prefers English gets English', async ({ page }) => {
  await page.goto('/');
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await expect(page.locator('table[data-testid="names"] th').first()).toHaveText('Name');
});

test('the event log keeps the last 20 events with their delivery delay', async ({ page }) => {
  await page.goto('/');
  await expectLogOfTwenty(page);
});

test.describe('when the server goes away', () => {
  test.use({ serverArgs: ['--interval-ms', '300', '--retry-ms', '5000'] });

  test('the badge counts down to the next attempt', async ({ page, server }) => {
    await page.goto('/');
    await expect(state(page)).toHaveAttribute('data-state', 'open');
    await server.stop();
    await expect(state(page)).toHaveAttribute('data-state', 'reconnecting');
    // retry: is 5 s ± 20 %, so the browser tries again within 6 s.
    const countdown = page.getByTestId('retry-in');
    await expect(countdown).toHaveText(/^[1-6]$/);
    const first = Number(await countdown.textContent());
    await expect.poll(async () => Number(await countdown.textContent())).toBeLessThan(first);
  });
});

test.describe('on a phone', () => {
  test.use({ viewport: { width: 360, height: 740 } });

  test('the page fits 360 px without scrolling sideways', async ({ page }) => {
    await page.goto('/');
    await expectFitsWidth(page, 360);
  });
});
