// What the page must do in every engine, written once: Chromium's Playwright tests (this folder)
// and the Firefox and WebKit suite over WebDriver (../engines/) call the same checks. A check
// reads the page through a `View`, which a Playwright `Page` already is and
// ../engines/windows.ts implements for a WebDriver window; it asserts with Playwright's
// `expect`, as both suites run under Playwright's runner.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from '@playwright/test';
import { consecutive, lastIndex, logEntries, logEntriesWithText, parseId, type Evaluates } from './log';

/** One window of one browser, whichever drives it. */
export interface View extends Evaluates {
  /** Clicks the element `selector` (CSS) names, as a user would. */
  click(selector: string): Promise<void>;
  /** Loads the page again. */
  reload(): Promise<unknown>;
  /** A PNG of what the window shows. */
  screenshot(): Promise<Buffer>;
}

/** The repository root, where the server's surnames live. */
const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** The characters names are built from, as the server embeds them. */
export const SURNAMES = Array.from(
  readFileSync(path.join(REPO_ROOT, 'server', 'data', 'surnames.txt'), 'utf8').trimEnd(),
);

/** The classic example's rule: `str[i] + str[i + 15] + str[i - 5]`, a missing one adds nothing. */
export function nameAt(i: number): string {
  return [i, i + 15, i - 5].map((p) => SURNAMES[p] ?? '').join('');
}

export const testId = (id: string) => `[data-testid="${id}"]`;

/** The `data-state` of the badge (`open`, `reconnecting`…), or null without one. */
export function stateOf(view: Evaluates): Promise<string | null> {
  return view.evaluate(() => document.querySelector('[data-testid="state"]')?.getAttribute('data-state') ?? null);
}

/** Waits until the badge's `data-state` is `state`. */
export async function expectState(view: Evaluates, state: string, timeout?: number): Promise<void> {
  await expect.poll(() => stateOf(view), { message: `data-state ${state}`, timeout }).toBe(state);
}

/** Sleeps `ms`: for checks that something does not happen. */
export const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One consistent read of what the table shows (a single evaluate, so no event slips between). */
export function snapshot(view: Evaluates) {
  return view.evaluate(() => {
    const indexText = document.querySelector('[data-testid="index"]')?.textContent ?? null;
    const trs = Array.from(document.querySelectorAll('table[data-testid="names"] tbody tr'));
    return {
      indexText,
      rows: trs.map((tr) => ({
        dataValue: tr.getAttribute('data-value'),
        cells: Array.from(tr.querySelectorAll('td')).map((td) => td.textContent ?? ''),
      })),
    };
  });
}
type Snapshot = Awaited<ReturnType<typeof snapshot>>;

/** Every row shows a valid position, its value, and the name the rule gives for it. */
export function expectValidRows(shown: Snapshot['rows']): void {
  expect(shown).toHaveLength(10);
  for (const row of shown) {
    expect(row.dataValue).toMatch(/^\d+$/);
    const value = Number(row.dataValue);
    expect(value).toBeLessThan(SURNAMES.length);
    expect(row.cells).toHaveLength(2);
    const [name, valueCell] = row.cells;
    expect(valueCell).toBe(row.dataValue);
    expect(name.trim()).not.toBe('');
    expect(name, `the name for position ${value}`).toBe(nameAt(value));
  }
}

/** The first HTML holds the latest event: ten rows and its index (before any script runs). */
export function expectServerRendered(html: string): void {
  expect(html.match(/<tr[^>]*data-value="\d+"/g) ?? [], 'ten table rows').toHaveLength(10);
  expect(html).toContain('data-testid="index"');
  expect(html).toContain('/pkg/livenames.js');
}

/** The page hydrated: its script removed the no-JavaScript notice and runs the badge. */
export async function expectHydrated(view: Evaluates): Promise<void> {
  const page = () =>
    view.evaluate(() => ({
      title: document.title,
      h1: document.querySelector('h1')?.textContent ?? null,
      headers: document.querySelectorAll('table[data-testid="names"] thead th').length,
      noJs: document.querySelectorAll('[data-testid="no-js"]').length,
      skipped: document.querySelectorAll('[data-testid="skipped"]').length,
    }));
  await expect.poll(page, { message: 'hydration removes the no-JavaScript notice' }).toEqual({
    title: 'livenames',
    h1: 'livenames',
    headers: 2,
    noJs: 0,
    skipped: 0,
  });
  expect(await stateOf(view)).toMatch(/^(connecting|open)$/);
}

/** The table holds 10 valid rows, and the next event redraws it with a higher index. */
export async function expectTableAdvances(view: Evaluates): Promise<void> {
  await expect.poll(async () => (await snapshot(view)).rows.length).toBe(10);
  const before = await snapshot(view);
  expect(before.indexText).toMatch(/^\d+$/);
  const firstIndex = Number(before.indexText);
  expect(firstIndex).toBeGreaterThanOrEqual(1);

  await expect
    .poll(async () => Number((await snapshot(view)).indexText), { message: 'the index grows with the next event' })
    .toBeGreaterThan(firstIndex);
  const after = await snapshot(view);
  expect(after.indexText).not.toBe(before.indexText);
  // Ten positions drawn at random out of 568: the same list twice means the rows were not redrawn.
  expect(after.rows.map((row) => row.dataValue)).not.toEqual(before.rows.map((row) => row.dataValue));
  for (const { rows } of [before, after]) expectValidRows(rows);
  expect(await view.evaluate(() => document.querySelectorAll('[data-testid="skipped"]').length)).toBe(0);
}

/** The event log, opened, keeps the last 20 events, each with a small delivery delay. */
export async function expectLogOfTwenty(view: View): Promise<void> {
  const isOpen = () => view.evaluate(() => document.querySelector('details.log')?.hasAttribute('open') ?? null);
  expect(await isOpen()).toBe(false);
  await view.click('details.log summary');
  await expect.poll(isOpen).toBe(true);
  const events = () =>
    view.evaluate(() =>
      Array.from(document.querySelectorAll('[data-testid="event-log"] [data-kind="event"]')).map(
        (row) => row.querySelector('[data-testid="delay"]')?.textContent ?? null,
      ),
    );
  // At an event every 300 ms, 20 fill the log in about 6 s.
  await expect.poll(async () => (await events()).length, { timeout: 15_000 }).toBe(20);
  await pause(1_000);
  const delays = await events();
  expect(delays, 'never more than 20').toHaveLength(20);
  const shown = delays.filter((delay) => delay !== null);
  expect(shown.length, 'every received event has its delay').toBeGreaterThanOrEqual(19);
  for (const delay of shown.map(Number)) {
    // Server and browser share this machine's clock: the delay is small and not negative.
    expect(delay).toBeGreaterThanOrEqual(0);
    expect(delay).toBeLessThan(2_000);
  }
}

type Line = { value: string | null; name: string; shownValue: string; changed: string | null; className: string };
export type Bar = Line & { fill: number; track: number; transition: string; highlight: string };
/** `veil`: the animation of the veil that fades the event's highlights (`none` without one). */
export type ChartState = { rows: Line[]; bars: Bar[]; veil: string };

/**
 * Reads the table and the chart at once (runs in the page; one evaluate, so no event slips
 * between). Each bar's `fill` is the drawn length of its bar and `track` the length a full bar
 * would have.
 */
export function readChart(): ChartState {
  const line = (element: Element, name: Element | null, value: Element | null): Line => ({
    value: element.getAttribute('data-value'),
    name: name?.textContent ?? '',
    shownValue: value?.textContent ?? '',
    changed: element.getAttribute('data-changed'),
    className: element.className,
  });
  const trs = Array.from(document.querySelectorAll('table[data-testid="names"] tbody tr'));
  const divs = Array.from(document.querySelectorAll('[data-testid="chart"] [data-testid="bar"]'));
  return {
    rows: trs.map((tr) => line(tr, tr.querySelector('td'), tr.querySelector('td:last-child'))),
    bars: divs.map((div) => {
      const fill = div.querySelector('[data-testid="bar-fill"]') as HTMLElement;
      return {
        ...line(div, div.querySelector('[data-testid="bar-name"]'), div.querySelector('[data-testid="bar-value"]')),
        fill: fill.getBoundingClientRect().width,
        track: fill.offsetWidth,
        transition: getComputedStyle(fill).transitionDuration,
        // The highlight is a still layer behind the bar (`::before`).
        highlight: getComputedStyle(div, '::before').backgroundColor,
      };
    }),
    veil: getComputedStyle(document.querySelector('[data-testid="rows"]') as Element, '::after').animationName,
  };
}

/** The largest value an entry can have: a full-length bar. */
const MAX_VALUE = 567;

/**
 * Each of the 10 bars is labelled with the name and value of its row; with `lengths` (when
 * nothing moves), each is also as long as its value.
 */
export function expectBarsMatchRows(state: ChartState, lengths: boolean): void {
  expect(state.bars).toHaveLength(10);
  for (const [position, bar] of state.bars.entries()) {
    const row = state.rows[position];
    expect(bar.value).toMatch(/^\d+$/);
    expect(bar.name, `name of bar ${position}`).toBe(row.name);
    expect(bar.name).not.toBe('');
    expect(bar.shownValue, `value of bar ${position}`).toBe(row.shownValue);
    expect(bar.shownValue).toBe(bar.value);
    if (lengths) {
      const expected = (Number(bar.value) / MAX_VALUE) * bar.track;
      expect(Math.abs(bar.fill - expected), `length of the bar for ${bar.value}`).toBeLessThanOrEqual(1);
    }
  }
}

/** The chart follows live events: after the next one, its bars still match the rows. */
export async function expectChartFollowsTable(view: Evaluates): Promise<void> {
  // Table and chart are updated one after the other: read until both show one event.
  const settled = async () => {
    const state = await view.evaluate(readChart);
    const same = state.rows.length === 10 && state.bars.map((b) => b.value).join() === state.rows.map((r) => r.value).join();
    return same ? state : null;
  };
  await expect.poll(settled).not.toBeNull();
  const first = (await settled()) as ChartState;
  expectBarsMatchRows(first, false);
  const values = (state: ChartState | null) => state?.rows.map((row) => row.value).join() ?? '';
  await expect.poll(async () => values(await settled()), { message: 'the next event' }).not.toBe(values(first));
  await expect.poll(settled).not.toBeNull();
  expectBarsMatchRows((await settled()) as ChartState, false);
}

/**
 * Paused for three intervals nothing shows; resumed, the missed events are replayed first and
 * live ones follow, with no gap and no duplicate. The page must record its log (./log.ts).
 */
export async function expectPauseResumeWithoutGap(view: View, intervalMs: number): Promise<void> {
  await expectState(view, 'open');
  await expect.poll(() => lastIndex(view)).toBeGreaterThan(1);
  const toggle = testId('pause-toggle');
  const pressed = () => view.evaluate((selector) => document.querySelector(selector)?.getAttribute('aria-pressed'), toggle);

  await view.click(toggle);
  await expectState(view, 'paused');
  await expect.poll(pressed).toBe('true');
  const atPause = await lastIndex(view);
  // Paused: the stream is closed, so three intervals bring nothing.
  await pause(3 * intervalMs + 100);
  expect(await lastIndex(view), 'nothing arrives while paused').toBe(atPause);

  await view.click(toggle);
  await expectState(view, 'open');
  await expect.poll(pressed).toBe('false');
  await expect.poll(() => lastIndex(view)).toBeGreaterThan(atPause + 3);
  const { entries, text: receivedText } = await logEntriesWithText(view, 'received');
  const indices = entries.map((entry) => parseId(entry.id).index);
  const expected = Array.from({ length: indices.length }, (_, i) => indices[0] + i);
  expect(indices, 'consecutive across the pause: no gap, no duplicate').toEqual(expected);
  expect(Number(receivedText), 'events received counts what arrived after the first render').toBe(indices.length - 1);
}

/** What the language of the page shows: `lang`, the first header, the live region, the toggle. */
function languageOf(view: Evaluates) {
  return view.evaluate(() => ({
    lang: document.documentElement.getAttribute('lang'),
    header: document.querySelector('table[data-testid="names"] th')?.textContent ?? null,
    live: document.querySelector('[aria-live]')?.textContent ?? '',
    toggle: document.querySelector('[data-testid="language-toggle"]')?.textContent ?? null,
  }));
}

/** What each language shows: `lang`, the name column's header, the open badge, the toggle. */
const LANGUAGES = {
  'zh-CN': { lang: 'zh-CN', header: '名字', open: '已连接', toggle: 'English' },
  en: { lang: 'en', header: 'Name', open: 'open', toggle: '中文' },
};
export type Language = keyof typeof LANGUAGES;

/** Waits until the page is in `language`, all of it. */
async function expectLanguage(view: Evaluates, language: Language, message?: string): Promise<void> {
  const { lang, header, open, toggle } = LANGUAGES[language];
  await expect.poll(async () => (await languageOf(view)).lang, { message }).toBe(lang);
  const shown = await languageOf(view);
  expect(shown.header).toBe(header);
  expect(shown.toggle).toBe(toggle);
  await expect.poll(async () => (await languageOf(view)).live).toContain(open);
}

/**
 * A browser that prefers `from` gets the page in it; the toggle switches to the other language,
 * the stream going on, and the choice survives a reload.
 */
export async function expectLanguageToggleSurvivesReload(view: View, from: Language): Promise<void> {
  const to: Language = from === 'en' ? 'zh-CN' : 'en';
  await expectState(view, 'open');
  await expectLanguage(view, from);

  await view.click(testId('language-toggle'));
  await expectLanguage(view, to);
  await expectState(view, 'open');

  await view.reload();
  await expectLanguage(view, to, 'the choice is remembered');
}

/** The server's open SSE streams, from its `/metrics`. */
export async function subscribers(serverUrl: string): Promise<number> {
  const text = await (await fetch(serverUrl + '/metrics')).text();
  const match = /^livenames_sse_subscribers (\d+)$/m.exec(text);
  if (!match) throw new Error('no livenames_sse_subscribers in /metrics');
  return Number(match[1]);
}

/** The tab's role in the tab protocol (`leader`, `follower`, `solo`). */
export function roleOf(view: Evaluates): Promise<string | null> {
  return view.evaluate(() => document.querySelector('[data-testid="state"]')?.getAttribute('data-role') ?? null);
}

/**
 * Open tabs of one browser hold one stream (`streams` reads the server's count) led by one of
 * them; when the leader closes, another takes over, and every tab goes on from its last id.
 * The tabs must record their logs (./log.ts).
 */
export async function expectOneStreamAndHandover<T extends Evaluates>(
  tabs: T[],
  close: (tab: T) => Promise<void>,
  streams: () => Promise<number>,
): Promise<void> {
  const roles = () => Promise.all(tabs.map(roleOf));
  const expected = tabs.map((_, i) => (i === 0 ? 'leader' : 'follower')).sort();
  await expect.poll(async () => (await roles()).sort()).toEqual(expected);
  await expect.poll(streams, { message: `one stream for all ${tabs.length} tabs` }).toBe(1);
  for (const tab of tabs) {
    const before = await lastIndex(tab);
    await expect.poll(() => lastIndex(tab), { message: 'every tab updates' }).toBeGreaterThan(before);
  }

  const leader = tabs[(await roles()).indexOf('leader')];
  const rest = tabs.filter((tab) => tab !== leader);
  const atHandover = Math.max(...(await Promise.all(rest.map(lastIndex))));
  await close(leader);
  await expect.poll(async () => (await Promise.all(rest.map(roleOf))).filter((role) => role === 'leader').length).toBe(1);
  for (const tab of rest) {
    await expect.poll(() => lastIndex(tab), { message: 'events flow after the handover' }).toBeGreaterThan(atHandover + 2);
    expect(await stateOf(tab)).toBe('open');
    const entries = await logEntries(tab);
    expect(entries.filter((entry) => entry.kind === 'gap'), 'no gap').toEqual([]);
    const { ok, indices } = consecutive(entries);
    expect(ok, `consecutive ids across the handover: ${indices.join(',')}`).toBe(true);
  }
  await expect.poll(streams, { message: 'still one stream' }).toBe(1);
}

/**
 * The server stops under an open page (`stop`) and a new run starts on its address
 * (`start`): the page says it is reconnecting, comes back by itself, marks the gap in its log
 * and shows events of the new run. The page must record its log (./log.ts).
 */
export async function expectRestartRecovered(
  view: Evaluates,
  stop: () => Promise<void>,
  start: () => Promise<void>,
): Promise<void> {
  await expectState(view, 'open');
  await expect.poll(() => lastIndex(view)).toBeGreaterThan(2);
  const before = await logEntries(view);
  const oldEpoch = parseId(before[before.length - 1].id).epoch;

  await stop();
  await expectState(view, 'reconnecting');
  // The same address, a new run: its epoch differs, so the page's Last-Event-ID is foreign.
  await start();

  await expectState(view, 'open', 10_000);
  await expect
    .poll(async () => (await logEntries(view)).some((entry) => entry.kind === 'gap'), { message: 'the log marks the gap' })
    .toBe(true);
  await expect
    .poll(
      async () => {
        const entries = await logEntries(view);
        const last = entries[entries.length - 1];
        return last.kind === 'event' && parseId(last.id).epoch !== oldEpoch;
      },
      { message: 'events of the new run arrive' },
    )
    .toBe(true);
  expect((await snapshot(view)).rows).toHaveLength(10);
}

/**
 * Records every change to the live parts of the page for `ms`, bounded, then returns them.
 * Used where a test must show that nothing happens any more; the "updated N s ago" clock and
 * the countdown, which tick by design, are left out.
 */
export function changesDuring(view: Evaluates, ms: number): Promise<string[]> {
  return view.evaluate(async (ms) => {
    const changes: string[] = [];
    const observer = new MutationObserver((records) => {
      for (const record of records) {
        const target = record.target instanceof Element ? record.target : record.target.parentElement;
        if (target?.closest('[data-testid="updated-ago"], [data-testid="retry-in"]')) continue;
        changes.push(`${record.type} on ${target?.outerHTML.slice(0, 120) ?? '?'}`);
      }
    });
    observer.observe(document.querySelector('main') ?? document.body, {
      subtree: true,
      childList: true,
      attributes: true,
      characterData: true,
    });
    await new Promise((resolve) => setTimeout(resolve, ms));
    observer.disconnect();
    return changes;
  }, ms);
}

/**
 * A server started with `--max-events 3` ends the stream with its `close` event: the page says
 * closed by server, keeps index 3 and its rows, changes nothing more and asks for the stream no
 * more (`asked` counts the requests for `/sse` the browser sent); the server answers later
 * requests with 204.
 */
export async function expectClosedByServer(
  view: Evaluates,
  intervalMs: number,
  serverUrl: string,
  asked: () => number,
): Promise<void> {
  await expectState(view, 'closed', 10_000);
  const badge = () => view.evaluate(() => document.querySelector('[data-testid="state"]')?.textContent ?? '');
  // Plain `closed` would mean the page asked for the stream only after it ended (a 204).
  expect(await badge(), 'the badge says who closed it').toContain('closed by server');
  const shown = await snapshot(view);
  expect(shown.indexText).toBe('3');
  expect(shown.rows).toHaveLength(10);

  const atClose = asked();
  expect(atClose, 'the stream that ended was asked for').toBeGreaterThanOrEqual(1);
  const changes = await changesDuring(view, 3 * intervalMs);
  expect(changes, 'DOM changes after the stream closed').toEqual([]);
  expect(asked(), 'requests to /sse after the stream closed').toBe(atClose);
  expect(await stateOf(view)).toBe('closed');
  expect((await snapshot(view)).indexText).toBe('3');

  const late = await fetch(serverUrl + '/sse');
  expect(late.status).toBe(204);
}

/**
 * In a window `width` px wide the pause control shows without scrolling and, the log opened,
 * nothing scrolls sideways.
 */
export async function expectFitsWidth(view: View, width: number): Promise<void> {
  await expectState(view, 'open');
  expect(await view.evaluate(() => window.innerWidth), 'the window is that narrow').toBeLessThanOrEqual(width);
  // Before opening the log, which scrolls the page down to it.
  const inViewport = await view.evaluate((selector) => {
    const box = document.querySelector(selector)?.getBoundingClientRect();
    return !!box && box.bottom > 0 && box.top < window.innerHeight && box.right > 0 && box.left < window.innerWidth;
  }, testId('pause-toggle'));
  expect(inViewport, 'the pause control is in view').toBe(true);
  await view.click('details.log summary');
  await expect
    .poll(() => view.evaluate(() => document.querySelectorAll('[data-testid="event-log"] [data-kind="event"]').length))
    .toBeGreaterThan(0);
  const layout = await view.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    table: !!document.querySelector('table[data-testid="names"]')?.getClientRects().length,
  }));
  expect(layout.scrollWidth).toBeLessThanOrEqual(width);
  expect(layout.table, 'the table shows').toBe(true);
}

type Point = { x: number; y: number };

/** The colours drawn at `points` (CSS px in the window), from a screenshot decoded in the page. */
async function coloursAt(view: View, points: Point[]): Promise<[number, number, number][]> {
  const png = (await view.screenshot()).toString('base64');
  return view.evaluate(
    async ({ png, points }) => {
      const image = await createImageBitmap(await (await fetch(`data:image/png;base64,${png}`)).blob());
      const canvas = document.createElement('canvas');
      [canvas.width, canvas.height] = [image.width, image.height];
      const context = canvas.getContext('2d') as CanvasRenderingContext2D;
      context.drawImage(image, 0, 0);
      const scale = image.width / window.innerWidth;
      return points.map(({ x, y }) => {
        const [r, g, b] = context.getImageData(Math.round(x * scale), Math.round(y * scale), 1, 1).data;
        return [r, g, b] as [number, number, number];
      });
    },
    { png, points },
  );
}

/** Runs in the page: holds the veil's next fade at its start, once a row has changed with it. */
function holdNextFade(): void {
  const look = () => {
    const fade = document
      .getAnimations()
      .find((animation) => (animation.effect as KeyframeEffect | null)?.pseudoElement === '::after');
    if (!fade || !document.querySelector('tbody tr.changed')) return requestAnimationFrame(look);
    fade.pause();
    fade.currentTime = 0;
    (window as unknown as { __fade: Animation }).__fade = fade;
  };
  requestAnimationFrame(look);
}

/**
 * With motion, a changed row's highlight fades under the veil while its name stays drawn on
 * top: held at its start, the fade shows the highlight (#fff8c5) in the cell's padding; at its
 * end, the page's white; the name is dark in both. Needs events far enough apart (2 s) that
 * the fade is not restarted while it is read.
 */
export async function expectHighlightFadesUnderVeil(view: View): Promise<void> {
  await expectState(view, 'open');
  await view.evaluate(holdNextFade);
  await expect
    .poll(() => view.evaluate(() => '__fade' in window), { message: 'a fade held at its start', timeout: 15_000 })
    .toBe(true);
  const { padding, text } = await view.evaluate(() => {
    const cell = document.querySelector('tbody tr.changed td') as HTMLElement;
    cell.scrollIntoView({ block: 'center' });
    const box = cell.getBoundingClientRect();
    const range = document.createRange();
    range.selectNodeContents(cell);
    const name = range.getBoundingClientRect();
    // A grid of points over the name's text (12 across, 5 down), some of them on its strokes.
    const text = Array.from({ length: 60 }, (_, i) => ({
      x: name.left + (((i % 12) + 0.5) * name.width) / 12,
      y: name.top + ((Math.floor(i / 12) + 0.5) * name.height) / 5,
    }));
    return { padding: { x: box.left + 2, y: box.top + 2 }, text };
  });
  const darkest = (colours: [number, number, number][]) => Math.min(...colours.map(([r, g, b]) => r + g + b));
  const near = ([r, g, b]: [number, number, number], expected: [number, number, number]) =>
    [r, g, b].every((channel, i) => Math.abs(channel - expected[i]) <= 3);

  const [start, ...startText] = await coloursAt(view, [padding, ...text]);
  expect(near(start, [255, 248, 197]), `the highlight shows as the fade starts (drawn: ${start})`).toBe(true);
  // The text is #1f2328 (106 summed), the highlight 700 and white 765: anti-aliased strokes
  // land between, and a name drawn at all has some pixel well below either.
  expect(darkest(startText), 'the name is drawn over the highlight').toBeLessThan(400);

  // Finished, and two frames later, drawn (WebKit draws a finished fade's end only then).
  await view.evaluate(async () => {
    (window as unknown as { __fade: Animation }).__fade.finish();
    for (let frame = 0; frame < 2; frame++) await new Promise((resolve) => requestAnimationFrame(resolve));
  });
  const [end, ...endText] = await coloursAt(view, [padding, ...text]);
  expect(near(end, [255, 255, 255]), `the page's white once faded (drawn: ${end})`).toBe(true);
  expect(darkest(endText), 'the name is drawn over the veil').toBeLessThan(400);
}
