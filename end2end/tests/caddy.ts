// Debian's Caddy in front of livenames, terminating HTTPS and HTTP/2 with the configuration the
// README gives to deployers: the harness reads it from README.md (so the two cannot drift
// apart), points its site at `https://127.0.0.1:<free port>` with `tls internal` (Caddy's own CA,
// the line the README leaves commented) and its upstreams at the test's instances, and runs
// Caddy in the foreground with everything in a temporary folder of its own: its data (the CA and
// certificates, through XDG_DATA_HOME) and config, no admin endpoint, no port 80, and the
// system's trust store left alone. It is stopped by its PID.

import https from 'node:https';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, launch, untilListening } from './process';

/** Debian's caddy (`make test-tools` installs it); CADDY_PATH overrides. */
export const CADDY_BIN = process.env.CADDY_PATH ?? '/usr/bin/caddy';

const README = path.resolve(__dirname, '..', '..', 'README.md');
const START_TIMEOUT_MS = 15_000;

/** The site block's first line: `name {`. */
const SITE = /^(\S+)(\s*\{\s*)$/m;
/** The `reverse_proxy UPSTREAM… {` line. */
const REVERSE_PROXY = /^(\s*reverse_proxy)((?:\s+\d{1,3}(?:\.\d{1,3}){3}:\d+)+)(\s*\{\s*)$/m;
/** The commented `# tls internal` line, kept for hosts without a public name. */
const TLS_INTERNAL = /^(\s*)# (tls internal\b.*)$/m;

/** The README's Caddy configuration: the one ```caddyfile block in it. */
export function readmeCaddyConfig(): string {
  const blocks = [...readFileSync(README, 'utf8').matchAll(/^```caddyfile\n([\s\S]*?)^```$/gm)];
  if (blocks.length !== 1) throw new Error(`README.md should hold exactly one \`\`\`caddyfile block; it holds ${blocks.length}`);
  return blocks[0][1];
}

/**
 * `config` with its site at `https://127.0.0.1:port`, `tls internal` uncommented and its
 * upstreams replaced by `upstreams`. Everything else stays as written. Throws when `config`
 * lacks what is replaced, so a README that changes shape fails loudly here.
 */
export function pointedAt(config: string, port: number, upstreams: string[]): string {
  for (const [name, pattern] of Object.entries({ site: SITE, reverse_proxy: REVERSE_PROXY, 'tls internal': TLS_INTERNAL })) {
    if (!pattern.test(config)) throw new Error(`no ${name} line in the README's Caddy configuration:\n${config}`);
  }
  return config
    .replace(SITE, (_, _name, open) => `https://127.0.0.1:${port}${open}`)
    .replace(TLS_INTERNAL, (_, indent, line) => `${indent}${line}`)
    .replace(REVERSE_PROXY, (_, head, _addrs, open) => `${head} ${upstreams.join(' ')}${open}`);
}

/** Options for this process only: no admin endpoint, HTTP on a free port, no trust store, h1 and h2. */
function globalOptions(httpsPort: number, httpPort: number): string {
  return `# Written by end2end/tests/caddy.ts: README.md's configuration, run by a test.
{
	admin off
	skip_install_trust
	auto_https disable_redirects
	http_port ${httpPort}
	https_port ${httpsPort}
	grace_period 1s
	servers {
		# TCP only, as Chromium runs without QUIC in these tests.
		protocols h1 h2
	}
}
`;
}

export interface Caddy {
  /** `https://127.0.0.1:PORT`: the proxy's address, for the browser. */
  url: string;
  /** What Caddy printed. */
  output(): string;
  /** Stops Caddy (by PID) and removes its folder. */
  stop(): Promise<void>;
}

/** Resolves once Caddy answers an HTTPS request (any status): its certificate is issued. */
async function untilServing(url: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const answered = await new Promise<boolean>((resolve) => {
      // Caddy's CA is this test's own: the browser is told to accept it, and so is this probe.
      const request = https.get(url + '/healthz', { rejectUnauthorized: false }, (response) => {
        response.resume();
        resolve(true);
      });
      request.on('error', () => resolve(false));
    });
    if (answered) return;
    if (Date.now() > deadline) throw new Error(`Caddy did not answer HTTPS on ${url} within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Starts Caddy with the README's configuration, forwarding to `upstreams` (`host:port`). */
export async function startCaddy(upstreams: string[]): Promise<Caddy> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'livenames-caddy-'));
  const [httpsPort, httpPort] = [await freePort(), await freePort()];
  const file = path.join(dir, 'Caddyfile');
  writeFileSync(file, globalOptions(httpsPort, httpPort) + '\n' + pointedAt(readmeCaddyConfig(), httpsPort, upstreams));
  const child = launch(CADDY_BIN, ['run', '--config', file, '--adapter', 'caddyfile'], {
    env: {
      ...process.env,
      HOME: dir,
      XDG_DATA_HOME: path.join(dir, 'data'),
      XDG_CONFIG_HOME: path.join(dir, 'config'),
    },
  });
  const url = `https://127.0.0.1:${httpsPort}`;
  const stop = async () => {
    await child.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await untilListening(child, httpsPort, START_TIMEOUT_MS);
    await untilServing(url, START_TIMEOUT_MS);
  } catch (err) {
    const log = child.output();
    await stop();
    throw new Error(`${String(err)}\n${log}\n(\`make test-tools\` installs Debian's caddy)`);
  }
  return { url, output: child.output, stop };
}
