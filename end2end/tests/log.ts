// What a page's event log showed over a whole test. The log keeps only the last 20 entries,
// so an init script records every entry as it appears, in arrival order.

import type { Page } from '@playwright/test';

export interface LogEntry {
  kind: 'event' | 'gap';
  /** The event's id, or for a gap the first id available after it. */
  id: string;
}

/**
 * Records every entry `document` shows in its event log from now on, and those it shows now.
 * Runs in the page: as an init script in Playwright (`recordLog`), or right after each load
 * where a driver has no init scripts (WebDriver, ../engines/windows.ts), which sees the same
 * entries as long as fewer than 20 arrive before it runs.
 */
export function startLogRecording(): void {
  const seen: { kind: string; id: string }[] = [];
  const known = new Set<string>();
  (window as unknown as { __logSeen: typeof seen }).__logSeen = seen;
  const take = () => {
    for (const row of document.querySelectorAll('[data-testid="event-log"] [data-kind]')) {
      const kind = row.getAttribute('data-kind') ?? '';
      const id = row.getAttribute(kind === 'gap' ? 'data-first' : 'data-id') ?? '';
      if (!known.has(kind + id)) {
        known.add(kind + id);
        seen.push({ kind, id });
      }
    }
  };
  take();
  // Rows are added until the log is full; after that Leptos rewrites their ids in place.
  new MutationObserver(take).observe(document, {
    childList: true,
    subtree: true,
    attributeFilter: ['data-id', 'data-first'],
  });
}

/** Starts recording `page`'s event log; call before `page.goto`. */
export async function recordLog(page: Page): Promise<void> {
  await page.addInitScript(startLogRecording);
}

/** What the readers below need of a page: Playwright's `Page`, or a WebDriver window. */
export type Evaluates = Pick<Page, 'evaluate'>;

/** Every entry the log has shown since `recordLog`, oldest first. */
export async function logEntries(page: Evaluates): Promise<LogEntry[]> {
  return page.evaluate(() => (window as unknown as { __logSeen: LogEntry[] }).__logSeen);
}

/**
 * The log's entries and the text of the element with `testId`, read at one moment: an event
 * arriving between two separate reads would show in one and not the other.
 */
export async function logEntriesWithText(page: Evaluates, testId: string): Promise<{ entries: LogEntry[]; text: string | null }> {
  return page.evaluate((testId) => {
    const entries = (window as unknown as { __logSeen: LogEntry[] }).__logSeen;
    const text = document.querySelector(`[data-testid="${testId}"]`)?.textContent ?? null;
    return { entries, text };
  }, testId);
}

export function parseId(id: string | null): { epoch: string; index: number } {
  const match = /^(\d+)-(\d+)$/.exec(id ?? '');
  if (!match) throw new Error(`not an event id: ${id}`);
  return { epoch: match[1], index: Number(match[2]) };
}

/** The index of the newest event the log has shown, 0 before any. */
export async function lastIndex(page: Evaluates): Promise<number> {
  const events = (await logEntries(page)).filter((entry) => entry.kind === 'event');
  return events.length === 0 ? 0 : parseId(events[events.length - 1].id).index;
}

/** The indices of the events the log showed, asserting they are one run of consecutive ids. */
export function consecutive(entries: LogEntry[]): { ok: boolean; indices: number[] } {
  const indices = entries.filter((e) => e.kind === 'event').map((e) => parseId(e.id).index);
  const ok = indices.every((index, i) => i === 0 || index === indices[i - 1] + 1);
  return { ok, indices };
}

/**
 * Successive events in `entries` that do not follow each other (same run, next index) with no
 * gap entry between them: events lost without the log saying so. Empty when every event the
 * page missed was replayed or marked.
 */
export function silentHoles(entries: LogEntry[]): string[] {
  const holes: string[] = [];
  let previous: string | undefined;
  for (const entry of entries) {
    if (entry.kind === 'gap') {
      previous = undefined;
      continue;
    }
    if (previous !== undefined) {
      const [before, after] = [parseId(previous), parseId(entry.id)];
      if (before.epoch !== after.epoch || after.index !== before.index + 1) holes.push(`${previous} → ${entry.id}`);
    }
    previous = entry.id;
  }
  return holes;
}
