// Test harness: runs the release `server` binary on an ephemeral port, one instance per test,
// and stops it again; for tests through a proxy, also restartable instances on ports of their
// own, nginx (./nginx.ts), Caddy (./caddy.ts) and redis-server (./redis.ts). Only processes
// started here are ever signalled, and only by their PID (./process.ts).

import { test as base, type TestInfo } from '@playwright/test';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { startCaddy, type Caddy } from './caddy';
import { startNginx, type Nginx } from './nginx';
import { freePort, launch, type Child } from './process';
import { startRedis, type Redis } from './redis';

/** The repository root (the folder holding Cargo.toml); the server runs with it as cwd. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const SERVER_BIN = path.join(REPO_ROOT, 'target', 'release', 'server');
export const SITE_JS = path.join(REPO_ROOT, 'target', 'site', 'pkg', 'livenames.js');

/** Milliseconds between events for the default `server` fixture: short, so the suite is fast. */
export const DEFAULT_INTERVAL_MS = 300;

const START_TIMEOUT_MS = 15_000;
const LISTENING = /listening on (http:\/\/127\.0\.0\.1:\d+)/;
const ANSI = /\x1b\[[0-9;]*m/g;

export interface Server {
  /** `http://127.0.0.1:PORT`, without a trailing slash. */
  url: string;
  proc: Child['proc'];
  /** Everything the server printed so far (stdout and stderr), for diagnostics. */
  output(): string;
  /** SIGTERM, then SIGKILL if it has not exited in time; resolves once it has exited. Idempotent. */
  stop(): Promise<void>;
}

/** Throws a message that says what to do when the build output is not there. */
export function assertBuilt(): void {
  const missing = [SERVER_BIN, SITE_JS].filter((file) => !existsSync(file));
  if (missing.length > 0) {
    throw new Error(
      `The release build is missing: ${missing.join(', ')}.\n` +
        'Run `make build` (cargo leptos build --release) in the repository root first; ' +
        'the end-to-end tests run the built server and its hydration script.',
    );
  }
}

/** The environment for the server: ours without the variables its flags fall back on. */
function serverEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('LEPTOS_') && !key.startsWith('LIVENAMES_')) env[key] = value;
  }
  // The harness reads the `listening on` line, which is logged at info level.
  env.RUST_LOG = 'info';
  env.NO_COLOR = '1';
  return env;
}

/** A server binary other than the release build in target/, as a deployment runs it. */
export interface Deployed {
  /** The server binary. */
  bin: string;
  /** The folder it runs in. */
  cwd: string;
  /** Environment variables it gets besides ours (e.g. `LEPTOS_SITE_ROOT`). */
  env: Record<string, string>;
}

/**
 * Starts the server with `args`, on `127.0.0.1:0` unless they name an `--addr`, and waits for
 * its `listening on` line. By default the release build, from the repository root (so the
 * default `--site-root target/site` is found); `deployed` runs another binary where it lives.
 */
export async function startServer(args: string[] = [], deployed?: Deployed): Promise<Server> {
  if (!deployed) assertBuilt();
  const fullArgs = args.includes('--addr') ? args : ['--addr', '127.0.0.1:0', ...args];
  const child = launch(deployed?.bin ?? SERVER_BIN, fullArgs, {
    cwd: deployed?.cwd ?? REPO_ROOT,
    env: { ...serverEnv(), ...deployed?.env },
  });
  const { proc } = child;

  const url = await new Promise<string>((resolve, reject) => {
    let pending = '';
    const timer = setTimeout(() => {
      finish(new Error(`no \`listening on http://…\` line within ${START_TIMEOUT_MS} ms; ${child.describe()}`));
    }, START_TIMEOUT_MS);
    const finish = (result: string | Error) => {
      clearTimeout(timer);
      proc.stdout?.off('data', onStdout);
      proc.off('exit', onExit);
      if (typeof result === 'string') resolve(result);
      else reject(result);
    };
    const onStdout = (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const match = LISTENING.exec(line.replace(ANSI, ''));
        if (match) return finish(match[1]);
      }
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
      finish(new Error(`server exited (code ${code}, signal ${signal}) before listening; ${child.describe()}`));
    proc.stdout?.on('data', onStdout);
    proc.once('exit', onExit);
  }).catch(async (err: unknown) => {
    await child.stop().catch(() => undefined);
    throw err;
  });

  return { url, proc, output: child.output, stop: child.stop };
}

/**
 * A server on a port of its own that can be stopped and started again on that port, as a
 * deployment restarts an instance behind a proxy that names it by address.
 */
export interface Instance {
  /** `127.0.0.1:PORT`, as a proxy's configuration names it. */
  addr: string;
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** The process running now, or the last one. */
  current(): Server;
  /** Stops the process (SIGTERM, as a deployment does) and waits until it has exited. */
  stop(): Promise<void>;
  /** Starts a new process on the same port with the same flags; resolves once it listens. */
  start(): Promise<void>;
}

/** Anything a test starts that has to be stopped after it. */
interface Stoppable {
  output(): string;
  stop(): Promise<void>;
}

/**
 * A fixture that hands the test `start`, stops everything it started after the test, and
 * attaches what each printed to a failed test's report as `<label> N output`.
 */
function starter<Args extends unknown[], T extends Stoppable>(label: string, start: (...args: Args) => Promise<T>) {
  return async ({}, use: (start: (...args: Args) => Promise<T>) => Promise<void>, testInfo: TestInfo) => {
    const started: T[] = [];
    try {
      await use(async (...args: Args) => {
        const thing = await start(...args);
        started.push(thing);
        return thing;
      });
    } finally {
      await Promise.all(started.map((thing) => thing.stop()));
      if (testInfo.status !== testInfo.expectedStatus) {
        for (const [i, thing] of started.entries()) {
          await testInfo.attach(`${label} ${i + 1} output`, { body: thing.output(), contentType: 'text/plain' });
        }
      }
    }
  };
}

type Fixtures = {
  /** Flags for the `server` fixture; override with `test.use({ serverArgs: [...] })`. */
  serverArgs: string[];
  /** A server started for this test with `serverArgs`, stopped after it; it is the baseURL. */
  server: Server;
  /** Starts further servers with custom flags (and binary); each is stopped after the test. */
  startServer: (args?: string[], deployed?: Deployed) => Promise<Server>;
  /** Starts a restartable server on a free port of its own; every process is stopped after the test. */
  startInstance: (args?: string[]) => Promise<Instance>;
  /** Starts nginx with the README's configuration in front of `upstreams` (`host:port`). */
  startNginx: (upstreams: string[]) => Promise<Nginx>;
  /** Starts Caddy with the README's configuration (HTTPS, HTTP/2) in front of `upstreams`. */
  startCaddy: (upstreams: string[]) => Promise<Caddy>;
  /** Starts a redis-server of this test's own. */
  startRedis: () => Promise<Redis>;
};

export const test = base.extend<Fixtures>({
  serverArgs: [['--interval-ms', String(DEFAULT_INTERVAL_MS)], { option: true }],

  server: async ({ serverArgs }, use, testInfo) => {
    const server = await startServer(serverArgs);
    try {
      await use(server);
    } finally {
      await server.stop();
      if (testInfo.status !== testInfo.expectedStatus) {
        await testInfo.attach('server output', { body: server.output(), contentType: 'text/plain' });
      }
    }
  },

  baseURL: async ({ server }, use) => {
    await use(server.url);
  },

  startServer: starter('extra server', startServer),

  startInstance: async ({ startServer }, use) => {
    await use(async (args = []) => {
      const addr = `127.0.0.1:${await freePort()}`;
      const start = () => startServer(['--addr', addr, ...args]);
      let server = await start();
      return {
        addr,
        url: `http://${addr}`,
        current: () => server,
        stop: () => server.stop(),
        async start() {
          server = await start();
        },
      };
    });
  },

  startNginx: starter('nginx', startNginx),

  startCaddy: starter('caddy', startCaddy),

  startRedis: starter('redis', startRedis),
});

export { expect } from '@playwright/test';
