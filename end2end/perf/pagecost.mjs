// `make pagecost`: what the page costs the browser's main thread while it is left open. Runs
// the release server (target/release/server) on a free port and Debian's Chromium, opens the
// page once with default motion and once with `prefers-reduced-motion: reduce`, side by side in
// one browser so both see the same machine load, and prints each one's main-thread busy time
// (`Performance.getMetrics` over the DevTools protocol: TaskDuration, with style recalculation,
// layout and script) in ms per second over the same window. Then the same page with a 10 s
// interval, where nothing but the badge's "ago" text should run between events. Last, what an
// event costs in main-thread frames: a DevTools trace of each page (`devtools.timeline`, `benchmark`) counts
// the frames Blink runs per event and the elements it restyles in them.
//
// The two pages are measured over PAGECOST_ROUNDS windows one after the other, and the ratio
// printed is the median of the windows' ratios: on a shared machine one window's ratio moves
// by a tenth either way.
//
// Options (environment): PAGECOST_SECS, each window (20); PAGECOST_ROUNDS (3); CHROMIUM_PATH
// (/usr/bin/chromium).
// Figures in BENCHMARKS.md. Only processes started here are signalled, by their own PID.

import { chromium } from '@playwright/test';
import os from 'node:os';
import { startServer } from './server.mjs';

const WINDOW_SECS = Number(process.env.PAGECOST_SECS ?? 20);
const ROUNDS = Number(process.env.PAGECOST_ROUNDS ?? 3);
/** Seconds after the first event before measuring: hydration and the first frames are over. */
const WARM_UP_SECS = 3;
const METRICS = ['TaskDuration', 'RecalcStyleDuration', 'LayoutDuration', 'ScriptDuration'];
/** Seconds of each page's trace for [framesPerEvent]. */
const TRACE_SECS = 5;

/** A page at `url` in a context of its own, hydrated and showing live events. */
async function openPage(browser, url, reducedMotion) {
  const context = await browser.newContext({ reducedMotion });
  const page = await context.newPage();
  await page.goto(url);
  await page.getByTestId('no-js').waitFor({ state: 'detached' });
  await page.locator('[data-testid="state"][data-state="open"]').waitFor();
  const first = await page.getByTestId('index').textContent();
  await page.waitForFunction((shown) => document.querySelector('[data-testid="index"]')?.textContent !== shown, first, {
    timeout: 30_000,
  });
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable', { timeDomain: 'timeTicks' });
  return { page, cdp, context };
}

async function metrics(cdp) {
  const { metrics } = await cdp.send('Performance.getMetrics');
  return Object.fromEntries(metrics.filter((m) => METRICS.includes(m.name)).map((m) => [m.name, m.value]));
}

/** Each page's main-thread ms per second over the same `secs`, and events shown meanwhile. */
async function measure(pages, secs) {
  const index = (page) => page.getByTestId('index').textContent().then(Number);
  const before = await Promise.all(pages.map(async ({ page, cdp }) => ({ m: await metrics(cdp), i: await index(page) })));
  const started = Date.now();
  await new Promise((resolve) => setTimeout(resolve, secs * 1000));
  const after = await Promise.all(pages.map(async ({ page, cdp }) => ({ m: await metrics(cdp), i: await index(page) })));
  const elapsed = (Date.now() - started) / 1000;
  return pages.map((_, n) => {
    const perSecond = (name) => ((after[n].m[name] - before[n].m[name]) * 1000) / elapsed;
    return { ...Object.fromEntries(METRICS.map((name) => [name, perSecond(name)])), events: after[n].i - before[n].i };
  });
}

/**
 * Main-thread frames (`ProxyMain::BeginMainFrame`) and elements restyled (`UpdateLayoutTree`)
 * per event in `page`'s renderer over `secs`, from a DevTools trace.
 */
async function framesPerEvent({ page, cdp }, secs) {
  const events = [];
  const collect = ({ value }) => events.push(...value);
  cdp.on('Tracing.dataCollected', collect);
  const complete = new Promise((resolve) => cdp.once('Tracing.tracingComplete', resolve));
  await cdp.send('Tracing.start', { transferMode: 'ReportEvents', traceConfig: { includedCategories: ['devtools.timeline', 'benchmark'] } });
  const first = Number(await page.getByTestId('index').textContent());
  await new Promise((resolve) => setTimeout(resolve, secs * 1000));
  const last = Number(await page.getByTestId('index').textContent());
  await cdp.send('Tracing.end');
  await complete;
  cdp.off('Tracing.dataCollected', collect);
  // The page's renderer: the process whose events name its main frame.
  const { frameTree } = await cdp.send('Page.getFrameTree');
  const pid = events.find((e) => (e.args?.data ?? e.args?.beginData)?.frame === frameTree.frame.id)?.pid;
  const mainThread = events.find((e) => e.pid === pid && e.name === 'thread_name' && e.args.name === 'CrRendererMain')?.tid;
  const ofPage = events.filter((e) => e.pid === pid && e.tid === mainThread && e.ph === 'X');
  const count = Math.max(last - first, 1);
  return {
    frames: ofPage.filter((e) => e.name === 'ProxyMain::BeginMainFrame').length / count,
    restyled: ofPage.filter((e) => e.name === 'UpdateLayoutTree').reduce((sum, e) => sum + (e.args?.elementCount ?? 0), 0) / count,
  };
}

function row(label, figures) {
  const ms = (name) => figures[name].toFixed(1).padStart(7);
  return `${label.padEnd(28)}${ms('TaskDuration')}${ms('RecalcStyleDuration')}${ms('LayoutDuration')}${ms('ScriptDuration')}${String(figures.events).padStart(8)}`;
}

/**
 * Each page's figures over `rounds` windows (a list per window), and with `traceSecs`, its
 * frames per event in the last.
 */
async function run(browser, intervalMs, motions, { rounds = 1, traceSecs = 0 } = {}) {
  const server = await startServer(['--interval-ms', String(intervalMs)]);
  try {
    const pages = [];
    for (const motion of motions) pages.push(await openPage(browser, server.url, motion));
    await new Promise((resolve) => setTimeout(resolve, WARM_UP_SECS * 1000));
    const windows = [];
    for (let round = 0; round < rounds; round++) windows.push(await measure(pages, WINDOW_SECS));
    const last = windows.at(-1);
    if (traceSecs) for (const [n, page] of pages.entries()) Object.assign(last[n], await framesPerEvent(page, traceSecs));
    for (const { context } of pages) await context.close();
    return windows;
  } finally {
    server.stop();
  }
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
try {
  console.log(`main-thread busy time, ms per second, over ${ROUNDS} windows of ${WINDOW_SECS} s (load average before: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})`);
  console.log(`${''.padEnd(28)}${'task'.padStart(7)}${'style'.padStart(7)}${'layout'.padStart(7)}${'script'.padStart(7)}${'events'.padStart(8)}`);
  const windows = await run(browser, 1000, ['no-preference', 'reduce'], { rounds: ROUNDS, traceSecs: TRACE_SECS });
  const ratios = [];
  for (const [round, [motion, reduced]] of windows.entries()) {
    console.log(row(`1 event/s, motion (${round + 1})`, motion));
    console.log(row(`1 event/s, reduced (${round + 1})`, reduced));
    ratios.push(motion.TaskDuration / reduced.TaskDuration);
  }
  const [motion, reduced] = windows.at(-1);
  const shown = ratios.map((ratio) => `${ratio.toFixed(2)}x`).join(', ');
  console.log(`motion / reduced: ${median(ratios).toFixed(2)}x, the median of ${shown} (target at most 2x)`);
  for (const [label, figures] of [['motion', motion], ['reduced', reduced]]) {
    console.log(`${label}: ${figures.frames.toFixed(1)} main-thread frames and ${figures.restyled.toFixed(0)} elements restyled per event (trace of ${TRACE_SECS} s)`);
  }
  const [[idle]] = await run(browser, 10_000, ['no-preference']);
  console.log(row('1 event/10 s, motion', idle));
  console.log(`load average after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
} finally {
  await browser.close();
}
