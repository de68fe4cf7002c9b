/**
 * A tiny HTTP endpoint on loopback serving the running stack's counters as JSON (`GET /status`), read by
 * `iot-ingest status`. Recorded in connections.json as `devstack.statusUrl`. Other routes (the live page
 * at `/`, devstack/live) come from `routes`; without them `/` answers the same JSON as `/status`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PipelineStatus } from './status.js';

export interface StatusServer {
  readonly statusUrl: string;
  close(): Promise<void>;
}

export async function startStatusServer(options: {
  host?: string;
  port?: number;
  sample: () => Promise<PipelineStatus>;
  routes?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
}): Promise<StatusServer> {
  const server = http.createServer((req, res) => {
    if (req.url !== '/status' && options.routes?.(req, res)) return;
    if (req.method !== 'GET' || (req.url !== '/status' && req.url !== '/')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    options.sample().then(
      (status) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(status) + '\n'),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
    );
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    statusUrl: `http://${host}:${port}/status`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
