/**
 * The alert webhook receiver: a stand-in for a Logic Apps "When a HTTP request is received" trigger, on
 * plain HTTP on loopback. It answers as that trigger does: 202 to a valid POST, 401 when the URL's `sig`
 * is wrong, 400 when the body breaks the trigger's schema (contracts ALERT_WEBHOOK_SCHEMA, schema
 * validation on), 413 over 1 MB. The URL carries a random `sig`, like a Logic App's, so it is a secret:
 * it goes to connections.json (`alertWebhook.url`), never to logs.
 *
 * What it received is kept in memory (the live page and the tests read it), with repeats recognised by
 * the `x-iot-ingest-alert-id` header. `failNext(n, status)` makes the next n requests fail (tests of the
 * sender's retry).
 */
import http from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { AlertWebhookBody } from '@iot-ingest/contracts';
import { ALERT_ID_HEADER, alertWebhookBodyProblems } from '@iot-ingest/contracts';

const MAX_BODY_BYTES = 1024 * 1024;
/** The Logic Apps trigger URL's shape. */
const TRIGGER_PATH = '/workflows/devstack/triggers/manual/paths/invoke';
/** Received notifications kept for the page and the tests. */
const KEEP = 10_000;

export interface WebhookReceiverOptions {
  host?: string;
  /** Default 0 (a free port). */
  port?: number;
}

// A type alias (not an interface) so it can be passed to mergeConnection as is.
export type WebhookConnection = {
  /** The trigger URL with its `sig`: what HOT_WEBHOOK_URL is set to. A secret. */
  url: string;
};

export interface ReceivedAlert {
  readonly body: AlertWebhookBody;
  /** `{alertId}/{state}` from the header. */
  readonly key: string;
  readonly receivedAtMs: number;
  /** The same key was received before. */
  readonly repeat: boolean;
}

export interface WebhookReceiverCounters {
  accepted: number;
  repeats: number;
  rejected: number;
  injectedFailures: number;
}

export interface WebhookReceiver {
  readonly connection: WebhookConnection;
  /** Everything accepted, oldest first (the last 10,000). */
  received(): readonly ReceivedAlert[];
  counters(): WebhookReceiverCounters;
  /** Answer the next `count` requests with `status` (a failing Logic App). */
  failNext(count: number, status: number): void;
  /** Called for each accepted notification (the live page). */
  onAlert(listener: (alert: ReceivedAlert) => void): () => void;
  stop(): Promise<void>;
}

export async function startWebhookReceiver(options: WebhookReceiverOptions = {}): Promise<WebhookReceiver> {
  const host = options.host ?? '127.0.0.1';
  const sig = randomBytes(24).toString('base64url');
  const received: ReceivedAlert[] = [];
  const seen = new Set<string>();
  const listeners = new Set<(alert: ReceivedAlert) => void>();
  const counters: WebhookReceiverCounters = { accepted: 0, repeats: 0, rejected: 0, injectedFailures: 0 };
  let failing = { count: 0, status: 500 };

  const answer = (res: http.ServerResponse, status: number, body?: unknown): void => {
    if (status >= 400) counters.rejected++;
    res.writeHead(status, { 'content-type': 'application/json' }).end(body === undefined ? '' : JSON.stringify(body));
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://receiver');
    if (url.pathname !== TRIGGER_PATH)
      return answer(res, 404, { error: { code: 'NotFound', message: 'no such trigger' } });
    if (req.method !== 'POST')
      return answer(res, 405, { error: { code: 'MethodNotAllowed', message: 'the trigger takes POST' } });
    const given = Buffer.from(url.searchParams.get('sig') ?? '');
    const expected = Buffer.from(sig);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return answer(res, 401, {
        error: { code: 'DirectApiAuthorizationRequired', message: 'the sig is missing or wrong' },
      });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > MAX_BODY_BYTES)
        return answer(res, 413, { error: { code: 'RequestEntityTooLarge', message: `over ${MAX_BODY_BYTES} bytes` } });
      if (failing.count > 0) {
        failing.count--;
        counters.injectedFailures++;
        return answer(res, failing.status, { error: { code: 'InjectedFailure', message: 'failNext' } });
      }
      if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
        return answer(res, 400, {
          error: { code: 'InvalidRequestContent', message: 'content-type must be application/json' },
        });
      }
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return answer(res, 400, { error: { code: 'InvalidRequestContent', message: 'the body is not JSON' } });
      }
      const problems = alertWebhookBodyProblems(body);
      if (problems.length > 0)
        return answer(res, 400, { error: { code: 'TriggerInputSchemaMismatch', message: problems.join('; ') } });
      const key = String(req.headers[ALERT_ID_HEADER] ?? '');
      const repeat = key !== '' && seen.has(key);
      if (key !== '') seen.add(key);
      if (repeat) counters.repeats++;
      counters.accepted++;
      const alert: ReceivedAlert = { body: body as AlertWebhookBody, key, receivedAtMs: Date.now(), repeat };
      received.push(alert);
      if (received.length > KEEP) received.splice(0, received.length - KEEP);
      for (const listener of listeners) listener(alert);
      answer(res, 202);
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(new Error(`alert webhook: cannot listen on ${host}:${options.port ?? 0}: ${err.message}`, { cause: err })),
    );
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  let stopped: Promise<void> | undefined;
  return {
    connection: {
      url: `http://${urlHost}:${port}${TRIGGER_PATH}?api-version=2016-10-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=${sig}`,
    },
    received: () => received,
    counters: () => ({ ...counters }),
    failNext(count, status) {
      failing = { count, status };
    },
    onAlert(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stop: () =>
      (stopped ??= new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      })),
  };
}
