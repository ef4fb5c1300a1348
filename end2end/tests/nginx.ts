// Debian's nginx in front of livenames, with the configuration the README gives to deployers:
// the harness reads it from README.md (so the two cannot drift apart), points its upstream at
// the test's instances and its `listen` at a free loopback port, and runs nginx in a
// temporary prefix of its own (pid file, logs, temp folders), in the foreground.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, launch, untilListening } from './process';

/** Debian's nginx (`make test-tools` installs it); NGINX_PATH overrides. */
export const NGINX_BIN = process.env.NGINX_PATH ?? '/usr/sbin/nginx';

const README = path.resolve(__dirname, '..', '..', 'README.md');
const START_TIMEOUT_MS = 10_000;

/** An `upstream` block's `server ADDRESS [parameters];` line. */
const UPSTREAM_SERVER = /^(\s*server\s+)(\d{1,3}(?:\.\d{1,3}){3}:\d+)(.*)$/;
const LISTEN = /^(\s*listen\s+)([^;\s]+)(.*)$/;

/** The README's nginx configuration: the one ```nginx block in it. */
export function readmeNginxConfig(): string {
  const blocks = [...readFileSync(README, 'utf8').matchAll(/^```nginx\n([\s\S]*?)^```$/gm)];
  if (blocks.length !== 1) throw new Error(`README.md should hold exactly one \`\`\`nginx block; it holds ${blocks.length}`);
  return blocks[0][1];
}

/**
 * `config` with its `listen` on `127.0.0.1:listenPort` and its upstream servers replaced by
 * `upstreams` (in order, each keeping the parameters of the line it replaces; lines beyond
 * `upstreams.length` removed). Everything else stays as written. Throws when `config` lacks
 * what is replaced, so a README that changes shape fails loudly here.
 */
export function pointedAt(config: string, listenPort: number, upstreams: string[]): string {
  const lines = config.split('\n');
  const servers = lines.flatMap((line, i) => (UPSTREAM_SERVER.test(line) ? [i] : []));
  const listens = lines.flatMap((line, i) => (LISTEN.test(line) ? [i] : []));
  if (servers.length < upstreams.length || listens.length !== 1) {
    throw new Error(
      `expected one \`listen\` and at least ${upstreams.length} upstream \`server ADDRESS;\` lines ` +
        `in the README's nginx configuration; found ${listens.length} and ${servers.length}:\n${config}`,
    );
  }
  lines[listens[0]] = lines[listens[0]].replace(LISTEN, (_, head, _addr, tail) => `${head}127.0.0.1:${listenPort}${tail}`);
  servers.slice(0, upstreams.length).forEach((line, i) => {
    lines[line] = lines[line].replace(UPSTREAM_SERVER, (_, head, _addr, tail) => `${head}${upstreams[i]}${tail}`);
  });
  const unused = new Set(servers.slice(upstreams.length));
  return lines.filter((_, i) => !unused.has(i)).join('\n');
}

/** A whole nginx.conf that runs `http` (server and upstream blocks) with everything in `prefix`. */
export function mainConfig(prefix: string, http: string): string {
  const at = (name: string) => path.join(prefix, name);
  // Workers switch to `user` only when the master runs as root (as in CI); the default user
  // could not enter the private temporary prefix, where proxied responses are buffered.
  const user = process.getuid?.() === 0 ? 'user root;' : '';
  return `# Written by end2end/tests/nginx.ts: README.md's configuration, run by a test.
daemon off;
worker_processes 1;
${user}
pid ${at('nginx.pid')};
lock_file ${at('nginx.lock')};
error_log ${at('error.log')} notice;

events {
    worker_connections 1024;
}

http {
    access_log ${at('access.log')};
    client_body_temp_path ${at('client_body')};
    proxy_temp_path ${at('proxy')};
    fastcgi_temp_path ${at('fastcgi')};
    uwsgi_temp_path ${at('uwsgi')};
    scgi_temp_path ${at('scgi')};

${http.trimEnd().replace(/^(?=.)/gm, '    ')}
}
`;
}

export interface Nginx {
  /** `http://127.0.0.1:PORT`: the proxy's address, for the browser. */
  url: string;
  /** What nginx printed and its error log. */
  output(): string;
  /** Stops nginx (its process group, by PID) and removes its prefix. */
  stop(): Promise<void>;
}

/** Starts nginx with the README's configuration, forwarding to `upstreams` (`host:port`). */
export async function startNginx(upstreams: string[]): Promise<Nginx> {
  const prefix = mkdtempSync(path.join(os.tmpdir(), 'livenames-nginx-'));
  const port = await freePort();
  const conf = path.join(prefix, 'nginx.conf');
  const errorLog = path.join(prefix, 'error.log');
  writeFileSync(conf, mainConfig(prefix, pointedAt(readmeNginxConfig(), port, upstreams)));
  // `-e` before the configuration is read: the built-in error log is not ours to write.
  const child = launch(NGINX_BIN, ['-p', prefix, '-c', conf, '-e', errorLog], { group: true });

  let errors = '';
  const readErrors = () => {
    try {
      errors = readFileSync(errorLog, 'utf8');
    } catch {
      // Not written yet, or the prefix is gone: keep what was read last.
    }
    return errors;
  };
  const output = () => `${child.output()}\nerror.log:\n${readErrors() || '(empty)'}`;
  const stop = async () => {
    await child.stop();
    readErrors();
    rmSync(prefix, { recursive: true, force: true });
  };
  try {
    await untilListening(child, port, START_TIMEOUT_MS);
  } catch (err) {
    const log = output();
    await stop();
    throw new Error(`${String(err)}\n${log}\n(\`make test-tools\` installs Debian's nginx)`);
  }
  return { url: `http://127.0.0.1:${port}`, output, stop };
}
