// `make lighthouse`: the first load on a phone, as npm's `lighthouse` scores it. Runs the
// release server (target/release/server, default settings) on a free port, then Lighthouse's
// default mobile configuration (a mid-range phone, simulated slow 4G and 4x CPU slowdown) with
// Debian's Chromium (CHROME_PATH, /usr/bin/chromium unless set) LIGHTHOUSE_RUNS times (3), one
// after the other; prints every run and the median of each figure, and writes the medians and
// the runs to LIGHTHOUSE_SUMMARY (BENCHMARKS-lighthouse.json in the repository root) unless it
// is empty. Only processes started here are signalled, by their own PID.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { REPO_ROOT, startServer } from './server.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const RUNS = Number(process.env.LIGHTHOUSE_RUNS ?? 3);
const SUMMARY = process.env.LIGHTHOUSE_SUMMARY ?? path.join(REPO_ROOT, 'BENCHMARKS-lighthouse.json');
const CHROME_PATH = process.env.CHROME_PATH ?? '/usr/bin/chromium';
const CATEGORIES = ['performance', 'accessibility', 'best-practices', 'seo'];
const AUDITS = {
  'total-blocking-time': 'TBT ms',
  'cumulative-layout-shift': 'CLS',
  'first-contentful-paint': 'FCP ms',
  'largest-contentful-paint': 'LCP ms',
  'speed-index': 'SI ms',
  interactive: 'TTI ms',
};

/** One Lighthouse run: its scores (0–100) and metrics. */
async function lighthouse(url, report) {
  const cli = path.join(HERE, '..', 'node_modules', 'lighthouse', 'cli', 'index.js');
  await promisify(execFile)(
    process.execPath,
    [cli, `${url}/`, '--quiet', '--output=json', `--output-path=${report}`, '--chrome-flags=--headless=new --no-sandbox'],
    { env: { ...process.env, CHROME_PATH }, maxBuffer: 64 * 1024 * 1024 },
  );
  const result = JSON.parse(readFileSync(report, 'utf8'));
  const figures = {};
  for (const category of CATEGORIES) figures[category] = Math.round(result.categories[category].score * 100);
  for (const [audit, label] of Object.entries(AUDITS)) {
    const value = result.audits[audit].numericValue;
    figures[label] = label === 'CLS' ? Number(value.toFixed(4)) : Math.round(value);
  }
  const failed = Object.values(result.audits)
    .filter((audit) => audit.score !== null && audit.score < 1 && audit.scoreDisplayMode === 'binary')
    .map((audit) => audit.id);
  return { figures, failed, version: result.lighthouseVersion, userAgent: result.environment.hostUserAgent };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

const loadBefore = os.loadavg();
const server = await startServer();
const folder = mkdtempSync(path.join(os.tmpdir(), 'livenames-lighthouse-'));
const runs = [];
try {
  for (let run = 0; run < RUNS; run++) {
    runs.push(await lighthouse(server.url, path.join(folder, `run-${run}.json`)));
    console.log(`run ${run + 1}: ${JSON.stringify(runs[run].figures)}${runs[run].failed.length ? ` failed: ${runs[run].failed.join(', ')}` : ''}`);
  }
} finally {
  server.stop();
  rmSync(folder, { recursive: true, force: true });
}
const medians = Object.fromEntries(Object.keys(runs[0].figures).map((key) => [key, median(runs.map((r) => r.figures[key]))]));
const loadAfter = os.loadavg();
console.log(`median of ${RUNS}: ${JSON.stringify(medians)}`);
console.log(`Lighthouse ${runs[0].version}, ${runs[0].userAgent}; load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(2)).join(' ')}`);
if (SUMMARY) {
  const summary = {
    command: 'make lighthouse',
    lighthouse: runs[0].version,
    browser: runs[0].userAgent,
    config: 'default (mobile, simulated throttling)',
    loadAverage: { before: loadBefore, after: loadAfter },
    median: medians,
    runs: runs.map((r) => ({ ...r.figures, failedAudits: r.failed })),
  };
  writeFileSync(SUMMARY, `${JSON.stringify(summary, null, 2)}\n`);
  console.log(`summary written to ${path.relative(process.cwd(), SUMMARY)}`);
}
