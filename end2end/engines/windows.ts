// The windows of one WebDriver session, each a `View` (../tests/checks.ts) for the shared checks.
// WebDriver has no init scripts, so after every load a window starts recording its event log
// (../tests/log.ts) and the errors the page raises from then on; a page that failed before
// that could not have hydrated, which every test checks.

import type { Page } from '@playwright/test';
import type { View } from '../tests/checks';
import { startLogRecording } from '../tests/log';

/** Runs in the page: keeps uncaught errors, unhandled rejections and console errors. */
function recordErrors(): void {
  const errors: string[] = [];
  (window as unknown as { __pageErrors: string[] }).__pageErrors = errors;
  addEventListener('error', (event) => errors.push(`error: ${event.message}`));
  addEventListener('unhandledrejection', (event) => errors.push(`unhandled rejection: ${String(event.reason)}`));
  const original = console.error.bind(console);
  console.error = (...args: unknown[]) => {
    errors.push(`console.error: ${args.map(String).join(' ')}`);
    original(...args);
  };
}

/**
 * The windows of one session. A WebDriver session has one current window, which every command
 * acts on, so a command for a window is a switch and then the command, and the two must not be
 * interleaved with another window's: the shared checks read several windows at once
 * (`Promise.all`), as Playwright allows. Every command therefore runs in turn (`exclusive`).
 */
export class Windows {
  private readonly shown: Window[] = [];
  private current: string | undefined;
  /** The last command queued; the next one starts when it has settled. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly browser: WebdriverIO.Browser) {}

  /**
   * Runs `command` in `handle`'s window (or in whichever is current, without one) once every
   * command queued before it is done.
   */
  exclusive<T>(handle: string | undefined, command: () => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      if (handle !== undefined) await this.switchTo(handle);
      return command();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Loads `url` in the session's first window, or in a new one once that is taken. */
  async load(url: string): Promise<Window> {
    const handle = await this.exclusive(undefined, async () =>
      this.shown.length === 0 ? this.browser.getWindowHandle() : (await this.browser.createWindow('window')).handle,
    );
    const window = new Window(this, handle);
    await this.exclusive(handle, () => this.browser.url(url));
    this.shown.push(window);
    await window.afterLoad();
    return window;
  }

  /** Makes `handle` the window the driver talks to; only inside `exclusive`. */
  private async switchTo(handle: string): Promise<void> {
    if (this.current === handle) return;
    await this.browser.switchToWindow(handle);
    this.current = handle;
  }

  /** Closes `window`; the others stay. */
  async close(window: Window): Promise<void> {
    await this.exclusive(window.handle, async () => {
      await this.browser.closeWindow();
      this.current = undefined;
    });
    this.shown.splice(this.shown.indexOf(window), 1);
  }

  /** Every error each open page recorded since its last load. */
  async errors(): Promise<string[]> {
    const all: string[] = [];
    for (const window of this.shown) {
      const errors = await window.evaluate(() => (window as unknown as { __pageErrors?: string[] }).__pageErrors ?? []);
      all.push(...errors);
    }
    return all;
  }
}

/** One window of a WebDriver session, as the shared checks read a page. */
export class Window implements View {
  constructor(
    private readonly windows: Windows,
    readonly handle: string,
  ) {}

  private get browser(): WebdriverIO.Browser {
    return this.windows.browser;
  }

  /** Starts recording what the tests read after a load. */
  async afterLoad(): Promise<void> {
    await this.evaluate(startLogRecording);
    await this.evaluate(recordErrors);
  }

  // Playwright's signature, so that the checks and ../tests/log.ts take either.
  evaluate = ((fn: (arg: unknown) => unknown, arg?: unknown) =>
    this.in(() => (arg === undefined ? this.browser.execute(fn) : this.browser.execute(fn, arg)))) as Page['evaluate'];

  async click(selector: string): Promise<void> {
    await this.in(() => this.browser.$(selector).click());
  }

  async reload(): Promise<void> {
    await this.in(() => this.browser.refresh());
    await this.afterLoad();
  }

  async screenshot(): Promise<Buffer> {
    return Buffer.from(await this.in(() => this.browser.takeScreenshot()), 'base64');
  }

  /** Sets the window's outer size. */
  async resize(width: number, height: number): Promise<void> {
    await this.in(() => this.browser.setWindowSize(width, height));
  }

  /** Runs `command` in this window, in turn with every other window's commands. */
  private in<T>(command: () => Promise<T>): Promise<T> {
    return this.windows.exclusive(this.handle, command);
  }
}
