// The bar chart beside the table, and the highlight of the rows that changed with an event.

import type { Page } from '@playwright/test';
import { expect, test } from './server';

/** The largest value an entry can have: a full-height bar. */
const MAX_VALUE = 567;

const rows = (page: Page) => page.locator('table[data-testid="names"] tbody tr');
const bars = (page: Page) => page.locator('svg[data-testid="chart"] rect[data-testid="bar"]');

/** One consistent read of the chart and the table (a single evaluate, so no event slips between). */
async function chartSnapshot(page: Page) {
  return page.evaluate(() => {
    const svg = document.querySelector('svg[data-testid="chart"]') as SVGSVGElement | null;
    const rects = Array.from(document.querySelectorAll('svg[data-testid="chart"] rect[data-testid="bar"]'));
    const trs = Array.from(document.querySelectorAll('table[data-testid="names"] tbody tr'));
    return {
      chartHeight: svg?.viewBox.baseVal.height ?? 0,
      bars: rects.map((rect) => ({
        dataValue: rect.getAttribute('data-value'),
        height: (rect as SVGGraphicsElement).getBBox().height,
        transitionDuration: getComputedStyle(rect).transitionDuration,
      })),
      rowValues: trs.map((tr) => tr.getAttribute('data-value')),
    };
  });
}

type Row = { value: string | null; name: string; changed: string | null; className: string };

/**
 * Every state the table body shows while `ms` pass, oldest first, starting with the current
 * one. Each event replaces the rows in one task, so each recorded state is one event's rows.
 */
async function tableStates(page: Page, ms: number): Promise<Row[][]> {
  return page.evaluate(async (ms) => {
    const tbody = document.querySelector('table[data-testid="names"] tbody');
    if (!tbody) throw new Error('no table body');
    const read = (): Row[] =>
      Array.from(tbody.querySelectorAll('tr')).map((tr) => ({
        value: tr.getAttribute('data-value'),
        name: tr.querySelector('td')?.textContent ?? '',
        changed: tr.getAttribute('data-changed'),
        className: tr.className,
      }));
    const states = [read()];
    const observer = new MutationObserver(() => states.push(read()));
    observer.observe(tbody, { subtree: true, childList: true, attributes: true, characterData: true });
    await new Promise((resolve) => setTimeout(resolve, ms));
    observer.disconnect();
    return states;
  }, ms);
}

test('the first HTML holds the chart with no row marked changed, and it hydrates cleanly', async ({
  page,
  request,
}) => {
  // Wait until an event exists, so the page is rendered with it.
  await (await request.get('/sse?limit=1')).text();
  const html = await (await request.get('/')).text();
  expect(html).toMatch(/<svg[^>]*data-testid="chart"/);
  expect(html).toMatch(/<svg[^>]*role="img"/);
  expect(html).toMatch(/<svg[^>]*aria-label="[^"]+"/);
  expect(html.match(/<rect[^>]*data-testid="bar"/g) ?? []).toHaveLength(10);
  // The first event has no predecessor: nothing is highlighted on the server.
  expect(html).not.toContain('data-changed');
  expect(html).not.toMatch(/class="changed"/);

  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    // The browser's own request for /favicon.ico is a 404 by design.
    if (msg.location().url.endsWith('/favicon.ico')) return;
    if (msg.type() === 'error' || msg.type() === 'warning') problems.push(`${msg.type()}: ${msg.text()}`);
  });
  await page.goto('/');
  await expect(bars(page)).toHaveCount(10);
  await expect(page.getByTestId('state')).toHaveAttribute('data-state', 'open');
  // Live events reach the hydrated table and chart.
  await expect(rows(page).and(page.locator('[data-changed="true"]')).first()).toBeVisible();
  const { bars: shown, rowValues } = await chartSnapshot(page);
  expect(shown.map((bar) => bar.dataValue)).toEqual(rowValues);
  expect(problems, 'no hydration error or warning').toEqual([]);
});

test('before the first event the chart is empty', async ({ page, startServer }) => {
  const quiet = await startServer(['--interval-ms', '60000']);
  await page.goto(quiet.url + '/');
  await expect(page.getByTestId('chart')).toBeVisible();
  await expect(page.getByTestId('chart')).toHaveAttribute('role', 'img');
  await expect(bars(page)).toHaveCount(0);
});

test('the chart has 10 bars whose heights follow the values of the table', async ({ page }) => {
  // Reduced motion: no transition, so each height is final as soon as it is set.
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/');
  await expect(bars(page)).toHaveCount(10);
  const first = await chartSnapshot(page);
  // Across a few events: the bars follow every one, not only the first.
  await expect
    .poll(async () => (await chartSnapshot(page)).rowValues.join(), { message: 'the next event' })
    .not.toBe(first.rowValues.join());
  for (const snapshot of [first, await chartSnapshot(page)]) {
    expect(snapshot.chartHeight).toBeGreaterThan(0);
    expect(snapshot.bars).toHaveLength(10);
    expect(snapshot.bars.map((bar) => bar.dataValue), 'bars in table order').toEqual(snapshot.rowValues);
    for (const bar of snapshot.bars) {
      expect(bar.dataValue).toMatch(/^\d+$/);
      const expected = (Number(bar.dataValue) / MAX_VALUE) * snapshot.chartHeight;
      expect(Math.abs(bar.height - expected), `height of the bar for ${bar.dataValue}`).toBeLessThanOrEqual(1);
    }
  }
});

test('the bars move smoothly: the same elements persist and transition', async ({ page }) => {
  await page.goto('/');
  await expect(bars(page)).toHaveCount(10);
  await page.evaluate(() => {
    (window as unknown as { firstBar: Element | null }).firstBar = document.querySelector('rect[data-testid="bar"]');
  });
  const before = await chartSnapshot(page);
  expect(before.bars[0].transitionDuration).not.toMatch(/^0s(, 0s)*$/);
  await expect
    .poll(async () => (await chartSnapshot(page)).rowValues.join(), { message: 'the next event' })
    .not.toBe(before.rowValues.join());
  const same = await page.evaluate(
    () => (window as unknown as { firstBar: Element | null }).firstBar === document.querySelector('rect[data-testid="bar"]'),
  );
  expect(same, 'the first bar is the same element after an event').toBe(true);
});

test('the rows that changed with the latest event are highlighted, the others not', async ({ page }) => {
  await page.goto('/');
  await expect(rows(page)).toHaveCount(10);
  // Several events at the default 300 ms interval.
  const states = (await tableStates(page, 1_500)).filter((state) => state.length === 10);
  expect(states.length, 'events seen').toBeGreaterThanOrEqual(3);
  let compared = 0;
  for (let i = 1; i < states.length; i++) {
    const [previous, current] = [states[i - 1], states[i]];
    for (const [position, row] of current.entries()) {
      const old = previous[position];
      const changed = row.value !== old.value || row.name !== old.name;
      expect(row.changed, `row ${position} of state ${i}: ${old.value} → ${row.value}`).toBe(
        changed ? 'true' : null,
      );
      expect(row.className.split(' ').includes('changed')).toBe(changed);
      compared++;
    }
  }
  expect(compared).toBeGreaterThanOrEqual(20);

  // The highlight is a brief fade.
  const animation = await rows(page)
    .and(page.locator('[data-changed="true"]'))
    .first()
    .evaluate((tr) => getComputedStyle(tr).animationName);
  expect(animation).not.toBe('none');
});

test('with reduced motion nothing moves and the highlight is static', async ({ page }) => {
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/');
  await expect(bars(page)).toHaveCount(10);
  const changedRow = rows(page).and(page.locator('[data-changed="true"]')).first();
  await expect(changedRow).toBeVisible();
  const { bars: shown } = await chartSnapshot(page);
  for (const bar of shown) expect(bar.transitionDuration).toMatch(/^0s(, 0s)*$/);
  const style = await page.evaluate(() => {
    const tr = document.querySelector('table[data-testid="names"] tbody tr[data-changed="true"]');
    if (!tr) return null;
    const computed = getComputedStyle(tr);
    return { animationName: computed.animationName, background: computed.backgroundColor };
  });
  expect(style, 'a highlighted row').not.toBeNull();
  expect(style?.animationName).toBe('none');
  // Still visible as a static background for the event.
  expect(style?.background).not.toBe('rgba(0, 0, 0, 0)');
});
