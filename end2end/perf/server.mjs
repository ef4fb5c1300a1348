// The release server for the page measurements (pagecost.mjs, lighthouse.mjs): started on a
// free port from the repository root, and stopped by its own PID.

import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (the folder holding Cargo.toml). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Starts the release server with `args` on a free port; resolves once it listens. */
export function startServer(args = []) {
  const proc = spawn(path.join(REPO_ROOT, 'target', 'release', 'server'), ['--addr', '127.0.0.1:0', ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH, RUST_LOG: 'info', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`the server did not start:\n${output}`)), 15_000);
    const read = (chunk) => {
      output += chunk;
      const listening = output.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (listening) {
        clearTimeout(timer);
        resolve({ url: listening[1], stop: () => proc.kill('SIGTERM') });
      }
    };
    proc.stdout.on('data', read);
    proc.stderr.on('data', read);
    proc.on('exit', (code) => reject(new Error(`the server exited (${code}):\n${output}`)));
  });
}
