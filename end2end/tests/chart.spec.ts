// The bar chart beside the table: its bars and their labels, and the highlight that a changed
// row shares with its bar.

import type { Page } from '@playwright/test';
import { expectBarsMatchRows, expectHighlightFadesUnderVeil, readChart as readState, type ChartState as State } from './checks';
import { expect, test } from './server';

const rows = (page: Page) => page.locator('table[data-testid="names"] tbody tr');
const bars = (page: Page) => page.locator('[data-testid="chart"] [data-testid="bar"]');

/**
 * Every state the table and the chart show while `ms` pass, oldest first, starting with the
 * current one: for each event, the last state seen while it was shown (the table, the chart
 * and the veil around them are updated one after the other), where both show that event.
 */
async function statesOver(page: Page, ms: number): Promise<State[]> {
  const states = await page.evaluate(
    async ({ ms, read }) => {
      // The page gets functions as source text only.
      const readState = new Function(`return (${read})()`) as () => State;
      const states = [readState()];
      const observer = new MutationObserver(() => states.push(readState()));
      const element = document.querySelector('[data-testid="rows"]');
      if (!element) throw new Error('no rows');
      observer.observe(element, { subtree: true, childList: true, attributes: true, characterData: true });
      await new Promise((resolve) => setTimeout(resolve, ms));
      observer.disconnect();
      return states;
    },
    { ms, read: readState.toString() },
  );
  const sameEvent = (state: State) =>
    state.rows.length === 10 && state.bars.map((bar) => bar.value).join() === state.rows.map((row) => row.value).join();
  const shown = (state: State) => JSON.stringify(state.rows);
  return states.filter((state, i) => i === states.length - 1 || shown(state) !== shown(states[i + 1])).filter(sameEvent);
}

test('the first HTML holds the labelled chart with nothing marked changed, and it hydrates cleanly', async ({
  page,
  request,
}) => {
  // Wait until an event exists, so the page is rendered with it.
  await (await request.get('/sse?limit=1')).text();
  const html = await (await request.get('/')).text();
  expect(html).toMatch(/<figure[^>]*data-testid="chart"/);
  expect(html).toMatch(/<figure[^>]*role="img"/);
  expect(html).toMatch(/<figure[^>]*aria-label="[^"]+"/);
  expect(html).toMatch(/<figure[^>]*aria-describedby="chart-values"/);
  expect(html).toMatch(/<p id="chart-values" hidden>[^<]+<\/p>/);
  expect(html.match(/<div[^>]*data-testid="bar"/g) ?? []).toHaveLength(10);
  expect(html.match(/data-testid="bar-name"[^>]*>[^<]+</g) ?? []).toHaveLength(10);
  // The first event has no predecessor: nothing is highlighted on the server.
  expect(html).not.toContain('data-changed');
  expect(html).not.toMatch(/class="changed/);

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
  await expect(bars(page).and(page.locator('[data-changed="true"]')).first()).toBeVisible();
  const { bars: shown, rows: shownRows } = await page.evaluate(readState);
  expect(shown.map((bar) => bar.value)).toEqual(shownRows.map((row) => row.value));
  expect(problems, 'no hydration error or warning').toEqual([]);
});

test('before the first event the chart is empty', async ({ page, startServer }) => {
  const quiet = await startServer(['--interval-ms', '60000']);
  await page.goto(quiet.url + '/');
  await expect(page.getByTestId('chart')).toBeAttached();
  await expect(page.getByTestId('chart')).toHaveAttribute('role', 'img');
  await expect(bars(page)).toHaveCount(0);
});

test('each bar is as long as its value and labelled with the name and value of its row', async ({ page }) => {
  // Reduced motion: no transition, so each length is final as soon as it is set.
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/');
  await expect(bars(page)).toHaveCount(10);
  // Across a few events: the bars follow every one, not only the first.
  const states = await statesOver(page, 1_000);
  expect(states.length, 'events seen').toBeGreaterThanOrEqual(2);
  for (const state of states) expectBarsMatchRows(state, true);
});

test('at 360 px wide every label is whole, legible and beside its bar', async ({ page }) => {
  await page.setViewportSize({ width: 360, height: 800 });
  // Still bars, so that the picture taken below shows each at its value.
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/');
  await expect(bars(page)).toHaveCount(10);
  const layout = await page.evaluate(() => {
    const box = (element: Element) => element.getBoundingClientRect();
    return {
      pageWidth: document.documentElement.scrollWidth,
      bars: Array.from(document.querySelectorAll('[data-testid="chart"] [data-testid="bar"]')).map((div) => {
        const [name, fill, value] = ['name', 'fill', 'value'].map(
          (part) => div.querySelector(`[data-testid="bar-${part}"]`) as HTMLElement,
        );
        return {
          name: { ...box(name).toJSON(), clipped: name.scrollWidth > name.clientWidth, size: getComputedStyle(name).fontSize },
          value: { ...box(value).toJSON(), clipped: value.scrollWidth > value.clientWidth, size: getComputedStyle(value).fontSize },
          fill: box(fill).toJSON(),
        };
      }),
    };
  });
  expect(layout.pageWidth, 'nothing scrolls sideways').toBeLessThanOrEqual(360);
  for (const [position, bar] of layout.bars.entries()) {
    for (const label of [bar.name, bar.value]) {
      expect(label.clipped, `label of bar ${position} is whole`).toBe(false);
      expect(parseFloat(label.size), 'at least 14 px').toBeGreaterThanOrEqual(14);
      expect(label.left).toBeGreaterThanOrEqual(0);
      expect(label.right).toBeLessThanOrEqual(360);
    }
    expect(bar.name.right, 'the name before the bar').toBeLessThanOrEqual(bar.fill.left);
    expect(bar.fill.right, 'the value after the bar').toBeLessThanOrEqual(bar.value.left);
    expect(bar.fill.top).toBeGreaterThanOrEqual(bar.name.top - bar.name.height);
    expect(bar.fill.bottom).toBeLessThanOrEqual(bar.name.bottom + bar.name.height);
  }
  await page.getByTestId('chart').screenshot({ path: test.info().outputPath('chart-360.png') });
});

test('the bars move smoothly: the same elements persist and transition', async ({ page }) => {
  await page.goto('/');
  await expect(bars(page)).toHaveCount(10);
  await page.evaluate(() => {
    (window as unknown as { firstBar: Element | null }).firstBar = document.querySelector('[data-testid="bar"]');
  });
  const before = await page.evaluate(readState);
  expect(before.bars[0].transition).not.toMatch(/^0s(, 0s)*$/);
  await expect
    .poll(async () => (await page.evaluate(readState)).rows.map((row) => row.value).join(), {
      message: 'the next event',
    })
    .not.toBe(before.rows.map((row) => row.value).join());
  const same = await page.evaluate(
    () => (window as unknown as { firstBar: Element | null }).firstBar === document.querySelector('[data-testid="bar"]'),
  );
  expect(same, 'the first bar is the same element after an event').toBe(true);
});

test('a row that changed and its bar share the highlight, which fades anew with each event', async ({ page }) => {
  await page.goto('/');
  await expect(rows(page)).toHaveCount(10);
  // Several events at the default 300 ms interval.
  const states = await statesOver(page, 1_500);
  expect(states.length, 'events seen').toBeGreaterThanOrEqual(3);
  let compared = 0;
  let replayed = 0;
  for (let i = 1; i < states.length; i++) {
    const [previous, current] = [states[i - 1], states[i]];
    for (const [position, row] of current.rows.entries()) {
      const [old, bar] = [previous.rows[position], current.bars[position]];
      const changed = row.value !== old.value || row.name !== old.name;
      const context = `row ${position} of state ${i}: ${old.value} → ${row.value}`;
      expect(row.changed, context).toBe(changed ? 'true' : null);
      expect(row.className.split(' ').includes('changed'), context).toBe(changed);
      expect(bar.changed, `the bar of ${context}`).toBe(row.changed);
      expect(bar.className, `the bar of ${context}`).toBe(row.className);
      expect(bar.highlight === 'rgba(0, 0, 0, 0)', `the highlight of the bar of ${context}`).toBe(!changed);
      compared++;
    }
    // One veil fades every highlight of the event, and a new fade plays with each event.
    const anyChanged = current.rows.some((row) => row.changed);
    expect(current.veil === 'none', `the veil of state ${i}`).toBe(!anyChanged);
    if (anyChanged && previous.veil !== 'none') {
      expect(current.veil, `a new fade for state ${i}`).not.toBe(previous.veil);
      replayed++;
    }
  }
  expect(compared).toBeGreaterThanOrEqual(20);
  expect(replayed, 'events that changed rows two in a row').toBeGreaterThan(0);
});

test('the highlight fades under the veil while the names stay on top', async ({ page, startServer }) => {
  const slow = await startServer(['--interval-ms', '2000']);
  await page.goto(slow.url + '/');
  await expectHighlightFadesUnderVeil(page);
});

test('with reduced motion nothing moves and row and bar share a still highlight', async ({ page }) => {
  await page.emulateMedia({ reducedMotion: 'reduce' });
  await page.goto('/');
  await expect(bars(page)).toHaveCount(10);
  await expect(rows(page).and(page.locator('[data-changed="true"]')).first()).toBeVisible();
  const state = await page.evaluate(readState);
  for (const bar of state.bars) expect(bar.transition).toMatch(/^0s(, 0s)*$/);
  expect(state.veil, 'no veil fades the highlight').toBe('none');
  const looks = await page.evaluate(() => {
    // The highlight is a layer (`::before`) behind each cell of a row and behind a bar.
    const highlights = ['table[data-testid="names"] tbody tr[data-changed="true"] td', '[data-testid="chart"] [data-testid="bar"][data-changed="true"]'].map((selector) => {
      const element = document.querySelector(selector);
      if (!element) return null;
      const computed = getComputedStyle(element, '::before');
      return { animationName: computed.animationName, background: computed.backgroundColor, opacity: computed.opacity };
    });
    return { highlights, veil: getComputedStyle(document.querySelector('[data-testid="rows"]')!, '::after').content };
  });
  const [row, bar] = looks.highlights;
  expect(row, 'a highlighted row').not.toBeNull();
  expect(row?.animationName).toBe('none');
  // Still visible as a static background for the event, the same on the bar, with no veil.
  expect(row?.background).toBe('rgb(255, 248, 197)');
  expect(row?.opacity).toBe('1');
  expect(bar).toEqual(row);
  expect(looks.veil).toBe('none');
});
