// A redis-server of the test's own, on a free loopback port and in a temporary folder, without
// persistence, for instances that share the stream (`--redis-url`). It never uses the system
// service the Debian package may have started.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, launch, untilListening } from './process';

/** `redis-server` from Debian (`make test-tools` installs it); REDIS_SERVER_PATH overrides. */
export const REDIS_SERVER_BIN = process.env.REDIS_SERVER_PATH ?? 'redis-server';

const START_TIMEOUT_MS = 10_000;

export interface Redis {
  /** `redis://127.0.0.1:PORT/`, for `--redis-url`. */
  url: string;
  output(): string;
  /** Stops it by its PID and removes its folder. */
  stop(): Promise<void>;
}

export async function startRedis(): Promise<Redis> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'livenames-redis-'));
  const child = launch(REDIS_SERVER_BIN, [
    ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir],
    ...['--save', '', '--appendonly', 'no', '--daemonize', 'no'],
  ]);
  const stop = async () => {
    await child.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await untilListening(child, port, START_TIMEOUT_MS);
  } catch (err) {
    await stop();
    throw new Error(`${String(err)}\n(\`make test-tools\` installs Debian's redis-server)`);
  }
  return { url: `redis://127.0.0.1:${port}/`, output: child.output, stop };
}
