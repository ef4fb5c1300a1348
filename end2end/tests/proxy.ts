// A TCP proxy between Chromium and the server that can cut every live connection at once,
// as a flaky network would. Listens on 127.0.0.1 only and forwards to one loopback target.

import net from 'node:net';

export interface CuttingProxy {
  /** `http://127.0.0.1:PORT`: point the browser here instead of at the server. */
  url: string;
  /** Resets every open connection, both sides; returns how many were cut. */
  cutAll(): number;
  close(): Promise<void>;
}

export async function startProxy(target: string): Promise<CuttingProxy> {
  const { hostname, port } = new URL(target);
  const pairs = new Set<[net.Socket, net.Socket]>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(port), hostname);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const forget = () => pairs.delete(pair);
    client.pipe(upstream).on('error', forget);
    upstream.pipe(client).on('error', forget);
    for (const socket of pair) {
      socket.on('error', () => pair.forEach((s) => s.destroy()));
      socket.on('close', () => {
        forget();
        pair.forEach((s) => s.destroy());
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    cutAll() {
      const cut = pairs.size;
      for (const pair of pairs) pair.forEach((socket) => socket.resetAndDestroy());
      pairs.clear();
      return cut;
    },
    close() {
      for (const pair of pairs) pair.forEach((socket) => socket.destroy());
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
