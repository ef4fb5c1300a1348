// Test harness: runs the release `server` binary on an ephemeral port, one instance per test,
// and stops it again. Only processes started here are ever signalled, and only by their PID.

import { test as base } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

/** The repository root (the folder holding Cargo.toml); the server runs with it as cwd. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const SERVER_BIN = path.join(REPO_ROOT, 'target', 'release', 'server');
export const SITE_JS = path.join(REPO_ROOT, 'target', 'site', 'pkg', 'livenames.js');

/** Milliseconds between events for the default `server` fixture: short, so the suite is fast. */
export const DEFAULT_INTERVAL_MS = 300;

const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;
const KILL_TIMEOUT_MS = 2_000;
const LISTENING = /listening on (http:\/\/127\.0\.0\.1:\d+)/;
const ANSI = /\x1b\[[0-9;]*m/g;

export interface Server {
  /** `http://127.0.0.1:PORT`, without a trailing slash. */
  url: string;
  proc: ChildProcess;
  /** Everything the server printed so far (stdout and stderr), for diagnostics. */
  output(): string;
  /** SIGTERM, then SIGKILL if it has not exited in time; resolves once it has exited. Idempotent. */
  stop(): Promise<void>;
}

/** Servers still running, so a dying worker does not leave them behind. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const proc of running) {
    if (proc.pid !== undefined && hasNotExited(proc)) {
      try {
        process.kill(proc.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
});

function hasNotExited(proc: ChildProcess): boolean {
  return proc.exitCode === null && proc.signalCode === null;
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

/** Resolves once `proc` has exited, or after `ms` with false. */
function exited(proc: ChildProcess, ms: number): Promise<boolean> {
  if (!hasNotExited(proc)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      proc.off('exit', onExit);
      resolve(false);
    }, ms);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    proc.once('exit', onExit);
  });
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
  const bin = deployed?.bin ?? SERVER_BIN;
  const fullArgs = args.includes('--addr') ? args : ['--addr', '127.0.0.1:0', ...args];
  const proc = spawn(bin, fullArgs, {
    cwd: deployed?.cwd ?? REPO_ROOT,
    env: { ...serverEnv(), ...deployed?.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  proc.once('exit', () => running.delete(proc));

  // Both pipes are read for the whole life of the process, so the server never blocks on them.
  let log = '';
  const append = (chunk: Buffer) => {
    log += chunk.toString('utf8');
  };
  proc.stdout?.on('data', append);
  proc.stderr?.on('data', append);
  const output = () => log;
  const describe = () =>
    `\`${bin} ${fullArgs.join(' ')}\` (pid ${proc.pid ?? 'none'}) printed:\n${log || '(nothing)'}`;

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (proc.pid === undefined || !hasNotExited(proc)) return;
      proc.kill('SIGTERM');
      if (await exited(proc, STOP_TIMEOUT_MS)) return;
      proc.kill('SIGKILL');
      if (!(await exited(proc, KILL_TIMEOUT_MS))) {
        throw new Error(`server did not exit after SIGKILL; ${describe()}`);
      }
    })();
    return stopping;
  };

  const url = await new Promise<string>((resolve, reject) => {
    let pending = '';
    const timer = setTimeout(() => {
      finish(new Error(`no \`listening on http://…\` line within ${START_TIMEOUT_MS} ms; ${describe()}`));
    }, START_TIMEOUT_MS);
    const finish = (result: string | Error) => {
      clearTimeout(timer);
      proc.stdout?.off('data', onStdout);
      proc.off('exit', onExit);
      proc.off('error', onError);
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
      finish(new Error(`server exited (code ${code}, signal ${signal}) before listening; ${describe()}`));
    const onError = (err: Error) => finish(new Error(`cannot start the server: ${err.message}; ${describe()}`));
    proc.stdout?.on('data', onStdout);
    proc.once('exit', onExit);
    proc.once('error', onError);
  }).catch(async (err: unknown) => {
    await stop().catch(() => undefined);
    throw err;
  });

  return { url, proc, output, stop };
}

type Fixtures = {
  /** Flags for the `server` fixture; override with `test.use({ serverArgs: [...] })`. */
  serverArgs: string[];
  /** A server started for this test with `serverArgs`, stopped after it; it is the baseURL. */
  server: Server;
  /** Starts further servers with custom flags (and binary); each is stopped after the test. */
  startServer: (args?: string[], deployed?: Deployed) => Promise<Server>;
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

  startServer: async ({}, use, testInfo) => {
    const started: Server[] = [];
    try {
      await use(async (args = [], deployed?: Deployed) => {
        const server = await startServer(args, deployed);
        started.push(server);
        return server;
      });
    } finally {
      await Promise.all(started.map((server) => server.stop()));
      if (testInfo.status !== testInfo.expectedStatus) {
        for (const [i, server] of started.entries()) {
          await testInfo.attach(`extra server ${i + 1} output`, {
            body: server.output(),
            contentType: 'text/plain',
          });
        }
      }
    }
  },
});

export { expect } from '@playwright/test';
