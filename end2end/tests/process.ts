// Child processes the tests start (livenames, nginx, redis-server): their output is kept for
// a failing test's report, they are stopped by their own PID (SIGTERM, then SIGKILL), and any
// still running when the worker exits is killed. No other process is ever signalled.

import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';

const STOP_TIMEOUT_MS = 5_000;
const KILL_TIMEOUT_MS = 2_000;
const POLL_MS = 50;

/** A process started by `launch`. */
export interface Child {
  proc: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** The command line, its PID and what it printed, for error messages. */
  describe(): string;
  /** Resolves once it has exited, or after `ms` with false. */
  exited(ms: number): Promise<boolean>;
  /** SIGTERM, then SIGKILL if it has not exited in time; resolves once it has exited. Idempotent. */
  stop(): Promise<void>;
}

export interface LaunchOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /**
   * Runs it in a process group of its own and signals the whole group: for a server that
   * forks workers (nginx), so a SIGKILL cannot leave them behind.
   */
  group?: boolean;
}

/** Processes still running, so a dying worker does not leave them behind. */
const running = new Set<Child>();
/** The processes started as leaders of their own group. */
const groups = new WeakSet<ChildProcess>();
process.on('exit', () => {
  for (const child of running) signal(child.proc, 'SIGKILL');
});

function hasNotExited(proc: ChildProcess): boolean {
  return proc.exitCode === null && proc.signalCode === null;
}

/** Signals `proc` (its group, when it leads one), if it still runs. */
function signal(proc: ChildProcess, name: NodeJS.Signals): void {
  if (proc.pid === undefined || !hasNotExited(proc)) return;
  try {
    process.kill(groups.has(proc) ? -proc.pid : proc.pid, name);
  } catch {
    // Already gone.
  }
}

/** Starts `command` with its output piped and kept (so it never blocks on a full pipe). */
export function launch(command: string, args: string[], options: LaunchOptions = {}): Child {
  const proc = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.group ?? false,
  });
  if (options.group) groups.add(proc);

  let log = '';
  const append = (chunk: Buffer) => {
    log += chunk.toString('utf8');
  };
  proc.stdout?.on('data', append);
  proc.stderr?.on('data', append);
  // A command that cannot start emits `error`; without a listener that would end the worker.
  proc.on('error', (err) => append(Buffer.from(`cannot start: ${err.message}\n`)));

  const exited = (ms: number): Promise<boolean> => {
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
  };
  const describe = () =>
    `\`${command} ${args.join(' ')}\` (pid ${proc.pid ?? 'none'}) printed:\n${log || '(nothing)'}`;

  let stopping: Promise<void> | undefined;
  const child: Child = {
    proc,
    output: () => log,
    describe,
    exited,
    stop() {
      stopping ??= (async () => {
        signal(proc, 'SIGTERM');
        if (await exited(STOP_TIMEOUT_MS)) return;
        signal(proc, 'SIGKILL');
        if (!(await exited(KILL_TIMEOUT_MS))) throw new Error(`did not exit after SIGKILL: ${describe()}`);
      })();
      return stopping;
    },
  };
  running.add(child);
  proc.once('exit', () => running.delete(child));
  return child;
}

/** A loopback port free at this moment: the kernel's pick for a socket bound to port 0. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Whether something accepts TCP connections on `127.0.0.1:port`. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Waits until `child` accepts connections on `port`; fails with what it printed if it exits
 * first or takes longer than `ms`. For servers that print nothing when ready.
 */
export async function untilListening(child: Child, port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await accepts(port)) return;
    if (await child.exited(POLL_MS)) throw new Error(`exited before listening on port ${port}: ${child.describe()}`);
  }
  await child.stop().catch(() => undefined);
  throw new Error(`not listening on port ${port} within ${ms} ms: ${child.describe()}`);
}
