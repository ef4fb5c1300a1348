// Firefox ESR and WebKitGTK over W3C WebDriver: the harness starts each driver itself (Debian's
// WebKitWebDriver under an Xvfb of its own, geckodriver built from crates.io) on a free loopback
// port and points WebdriverIO's `remote()` at it, so nothing ever downloads a driver or a
// browser. What made the drivers behave, found by trying (issue 21): Firefox `-headless` with a
// profile whose userChrome.css lets the window be narrower than 500 px; MiniBrowser with
// `--automation` and a GTK stylesheet (no minimum sizes, paddings, margins or borders outside
// the web view) that lets it shrink to 360 px; `pageLoadStrategy: normal`
// (with `eager`, WebKit's first script after a load sometimes hung until the script timeout).

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { remote } from 'webdriverio';
import { freePort, launch, untilListening, type Child } from '../tests/process';

export type Engine = 'firefox' | 'webkit';

/** geckodriver from crates.io (`cargo install geckodriver`); GECKODRIVER_PATH overrides. */
const GECKODRIVER = process.env.GECKODRIVER_PATH ?? path.join(os.homedir(), '.cargo', 'bin', 'geckodriver');
/** Debian's `firefox-esr`; FIREFOX_PATH overrides. */
const FIREFOX = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';
/** Debian's `webkit2gtk-driver`. */
const WEBKIT_DRIVER = process.env.WEBKIT_DRIVER_PATH ?? '/usr/bin/WebKitWebDriver';
/** The browser `libwebkit2gtk-4.1-0` ships, which WebKitWebDriver drives by default. */
const MINIBROWSER = process.env.MINIBROWSER_PATH ?? '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';
const XVFB = '/usr/bin/Xvfb';

const START_TIMEOUT_MS = 15_000;
const HINT = '(`make test-tools` installs firefox-esr, webkit2gtk-driver, xvfb and geckodriver)';

/** Something started here that has to be stopped (by its PID) and whose output helps a failure. */
export interface Started {
  output(): string;
  stop(): Promise<void>;
}

/** A private X display for MiniBrowser: Xvfb picks a free display number and prints it. */
export async function startXvfb(): Promise<Started & { display: string }> {
  const child = launch(XVFB, ['-displayfd', '1', '-screen', '0', '1280x1024x24', '-nolisten', 'tcp']);
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const number = /^(\d+)$/m.exec(child.output())?.[1];
    if (number !== undefined) return { display: `:${number}`, output: child.output, stop: child.stop };
    if (await child.exited(50)) break;
  }
  await child.stop();
  throw new Error(`Xvfb did not report a display: ${child.describe()}\n${HINT}`);
}

/** Temporary folders of one session, removed with it. */
function tempDir(name: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `livenames-${name}-`));
}

/** A Firefox profile whose window can be narrower than the 500 px it keeps by default. */
function firefoxProfile(): string {
  const profile = tempDir('firefox');
  mkdirSync(path.join(profile, 'chrome'));
  writeFileSync(path.join(profile, 'chrome', 'userChrome.css'), ':root { min-width: 0 !important; }\n');
  return profile;
}

/** GTK settings under which MiniBrowser's window can be as narrow as a phone. */
function gtkConfig(): string {
  const config = tempDir('gtk');
  mkdirSync(path.join(config, 'gtk-3.0'));
  writeFileSync(path.join(config, 'gtk-3.0', 'gtk.css'), '*:not(webkitwebview) { min-width: 0; min-height: 0; padding: 0; margin: 0; border-width: 0; }\n');
  return config;
}

/** What a session is started with. */
export interface SessionOptions {
  engine: Engine;
  /** The language Firefox prefers (`Accept-Language`), e.g. `en-US` or `zh-CN`; WebKit's is the locale's. */
  language: string;
  /** WebKit's X display (from `startXvfb`). */
  display?: string;
}

/** A driver process and the browser session it runs. */
export interface Driven extends Started {
  browser: WebdriverIO.Browser;
  /** The engine's name and version, as the session reports them. */
  version: string;
}

/** Starts the engine's driver on a free port and a new session in it. */
export async function startSession(options: SessionOptions): Promise<Driven> {
  const port = await freePort();
  const dirs: string[] = [];
  let driver: Child;
  let capabilities: WebdriverIO.Capabilities;
  if (options.engine === 'firefox') {
    const profile = firefoxProfile();
    dirs.push(profile);
    driver = launch(GECKODRIVER, ['--host', '127.0.0.1', '--port', String(port)]);
    capabilities = {
      browserName: 'firefox',
      'moz:firefoxOptions': {
        binary: FIREFOX,
        args: ['-headless', '-profile', profile],
        prefs: {
          'intl.accept_languages': options.language,
          // Reads the profile's userChrome.css.
          'toolkit.legacyUserProfileCustomizations.stylesheets': true,
        },
      },
    };
  } else {
    if (!options.display) throw new Error('WebKit needs an X display');
    const config = gtkConfig();
    dirs.push(config);
    driver = launch(WEBKIT_DRIVER, [`--port=${port}`], {
      env: {
        ...process.env,
        DISPLAY: options.display,
        XDG_CONFIG_HOME: config,
      },
    });
    // WebdriverIO's types do not list WebKitGTK's own capabilities.
    const webkit: Record<string, unknown> = {
      browserName: 'MiniBrowser',
      'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation'] },
    };
    capabilities = webkit as WebdriverIO.Capabilities;
  }
  const cleanUp = async () => {
    await driver.stop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  };
  try {
    await untilListening(driver, port, START_TIMEOUT_MS);
    const browser = await remote({
      hostname: '127.0.0.1',
      port,
      logLevel: 'warn',
      connectionRetryCount: 0,
      capabilities: {
        ...capabilities,
        pageLoadStrategy: 'normal',
        // Plain W3C WebDriver, the same for both engines.
        'wdio:enforceWebDriverClassic': true,
      },
    });
    const caps = browser.capabilities as WebdriverIO.Capabilities;
    return {
      browser,
      version: `${caps.browserName} ${caps.browserVersion}`,
      output: driver.output,
      async stop() {
        await browser.deleteSession().catch(() => undefined);
        await cleanUp();
      },
    };
  } catch (err) {
    const log = driver.output();
    await cleanUp();
    throw new Error(`${options.engine} cannot start: ${String(err)}\ndriver output:\n${log}\n${HINT}`);
  }
}
