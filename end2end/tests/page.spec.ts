// The page itself: its languages, the event log, the reconnect countdown, a phone's width.

import type { Page } from '@playwright/test';
import { expect, test } from './server';

const state = (page: Page) => page.getByTestId('state');

test.describe('in a browser that prefers Chinese', () => {
  test.use({ locale: 'zh-CN' });

  test('the page is rendered in Chinese, and the toggle switches to English for good', async ({ page }) => {
    await page.goto('/');
    await expect(page.locator('html')).toHaveAttribute('lang', 'zh-CN');
    await expect(page.locator('table[data-testid="names"] th').first()).toHaveText('名字');
    await expect(state(page)).toHaveAttribute('data-state', 'open');
    await expect(page.locator('[aria-live]')).toContainText('已连接');

    await page.getByTestId('language-toggle').click();
    await expect(page.locator('html')).toHaveAttribute('lang', 'en');
    await expect(page.locator('table[data-testid="names"] th').first()).toHaveText('Name');
    await expect(page.locator('[aria-live]')).toContainText('open');
    await expect(state(page), 'the stream goes on').toHaveAttribute('data-state', 'open');

    await page.reload();
    await expect(page.locator('html'), 'the choice is remembered').toHaveAttribute('lang', 'en');
    await expect(page.getByTestId('language-toggle')).toHaveText('中文');
  });
});

test('a browser that prefers English gets English', async ({ page }) => {
  await page.goto('/');
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await expect(page.locator('table[data-testid="names"] th').first()).toHaveText('Name');
});

test('the event log keeps the last 20 events with their delivery delay', async ({ page }) => {
  await page.goto('/');
  const log = page.locator('details.log');
  await expect(log).not.toHaveAttribute('open');
  await log.locator('summary').click();
  await expect(log).toHaveAttribute('open');
  const events = page.locator('[data-testid="event-log"] [data-kind="event"]');
  // The default fixture sends an event every 300 ms: 20 fill the log in about 6 s.
  await expect(events).toHaveCount(20, { timeout: 15_000 });
  await page.waitForTimeout(1_000);
  await expect(events, 'never more than 20').toHaveCount(20);
  const delays = await events.locator('[data-testid="delay"]').allTextContents();
  expect(delays.length, 'every received event has its delay').toBeGreaterThanOrEqual(19);
  for (const delay of delays.map(Number)) {
    // Server and browser share this machine's clock: the delay is small and not negative.
    expect(delay).toBeGreaterThanOrEqual(0);
    expect(delay).toBeLessThan(2_000);
  }
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
    await expect(state(page)).toHaveAttribute('data-state', 'open');
    // Before opening the log, which scrolls the page down to it.
    await expect(page.getByTestId('pause-toggle')).toBeInViewport();
    await page.locator('details.log summary').click();
    await expect(page.locator('[data-testid="event-log"] [data-kind="event"]').first()).toBeVisible();
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(width).toBeLessThanOrEqual(360);
    await expect(page.getByTestId('names')).toBeVisible();
  });
});
