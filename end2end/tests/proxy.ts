// A TCP proxy between Chromium and the server that can cut every live connection at once, or
// silence the event streams without closing them, as a flaky network would. Listens on
// 127.0.0.1 only and forwards to one loopback target.

import net from 'node:net';

export interface CuttingProxy {
  /** `http://127.0.0.1:PORT`: point the browser here instead of at the server. */
  url: string;
  /** Resets every open connection, both sides; returns how many were cut. */
  cutAll(): number;
  /**
   * Stops forwarding on the connections carrying `GET /sse` without closing them, like a
   * half-open TCP link; other and new connections work. Returns how many were silenced.
   */
  silenceStreams(): number;
  /** How many requests for `/sse` (`GET /sse…` heads) came through so far. */
  streamRequests(): number;
  close(): Promise<void>;
}

/** One proxied connection; `stream` once its latest request was for the event stream. */
interface Link {
  client: net.Socket;
  upstream: net.Socket;
  stream: boolean;
}

export async function startProxy(target: string): Promise<CuttingProxy> {
  const { hostname, port } = new URL(target);
  const links = new Set<Link>();
  const silenced = new Set<Link>();
  let streamRequests = 0;
  const server = net.createServer((client) => {
    const link: Link = { client, upstream: net.connect(Number(port), hostname), stream: false };
    links.add(link);
    const end = () => {
      links.delete(link);
      client.destroy();
      link.upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      // Only a chunk that starts a request says what the connection carries now.
      const head = chunk.toString('latin1', 0, 16);
      if (/^[A-Z]+ \//.test(head)) link.stream = /^GET \/sse[ ?]/.test(head);
      if (link.stream) streamRequests++;
    });
    client.pipe(link.upstream);
    link.upstream.pipe(client);
    for (const socket of [client, link.upstream]) {
      socket.on('error', end);
      socket.on('close', end);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    cutAll() {
      const cut = links.size;
      for (const { client, upstream } of links) {
        client.resetAndDestroy();
        upstream.resetAndDestroy();
      }
      links.clear();
      return cut;
    },
    silenceStreams() {
      const streams = [...links].filter((link) => link.stream);
      for (const link of streams) {
        link.client.unpipe(link.upstream);
        link.upstream.unpipe(link.client);
        link.upstream.pause();
        links.delete(link);
        silenced.add(link);
      }
      return streams.length;
    },
    streamRequests: () => streamRequests,
    close() {
      for (const { client, upstream } of [...links, ...silenced]) {
        client.destroy();
        upstream.destroy();
      }
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
