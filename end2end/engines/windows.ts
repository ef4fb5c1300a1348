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

/** The windows of one session; the driver talks to one window at a time. */
export class Windows {
  private readonly shown: Window[] = [];
  private current: string | undefined;

  constructor(readonly browser: WebdriverIO.Browser) {}

  /** Loads `url` in the session's first window, or in a new one once that is taken. */
  async load(url: string): Promise<Window> {
    let handle: string;
    if (this.shown.length === 0) {
      handle = await this.browser.getWindowHandle();
      this.current = handle;
      await this.browser.url(url);
    } else {
      const created = await this.browser.createWindow('tab');
      handle = created.handle;
      await this.switchTo(handle);
      await this.browser.url(url);
    }
    const window = new Window(this, handle);
    this.shown.push(window);
    await window.afterLoad();
    return window;
  }

  /** Makes `handle` the window the driver talks to. */
  async switchTo(handle: string): Promise<void> {
    if (this.current === handle) return;
    await this.browser.switchToWindow(handle);
    // Geckodriver has been seen to stay on the window it was in: say so rather than read the
    // wrong page.
    this.current = await this.browser.getWindowHandle();
    if (this.current !== handle) throw new Error(`switched to window ${handle}, still in ${this.current}`);
  }

  /** Closes `window`; the others stay. */
  async close(window: Window): Promise<void> {
    await this.switchTo(window.handle);
    await this.browser.closeWindow();
    this.current = undefined;
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
  evaluate = (async (fn: (arg: unknown) => unknown, arg?: unknown) => {
    await this.windows.switchTo(this.handle);
    return arg === undefined ? this.browser.execute(fn) : this.browser.execute(fn, arg);
  }) as Page['evaluate'];

  async click(selector: string): Promise<void> {
    await this.windows.switchTo(this.handle);
    await this.browser.$(selector).click();
  }

  async reload(): Promise<void> {
    await this.windows.switchTo(this.handle);
    await this.browser.refresh();
    await this.afterLoad();
  }

  /** Sets the window's outer size. */
  async resize(width: number, height: number): Promise<void> {
    await this.windows.switchTo(this.handle);
    await this.browser.setWindowSize(width, height);
  }
}
