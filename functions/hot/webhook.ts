/**
 * The alert webhook: one JSON POST per transition, as a Logic Apps "When a HTTP request is received"
 * trigger takes it (docs/contracts.md §9), with retry and backoff.
 *
 * - Retryable: no answer (refused, reset, timed out), 408, 429 (its Retry-After honoured, capped), 5xx.
 *   Any other status is a refusal: retrying cannot help, so the alert is marked `webhook: failed`.
 * - A few quick attempts happen inside the invocation; after that the delivery waits in the device's
 *   outbox and the sweep timer retries it on a growing schedule, so a webhook that is down never holds up
 *   a partition. Delivery is at least once: the header `x-iot-ingest-alert-id` (`{alertId}/{state}`) lets
 *   a receiver drop a repeat.
 * - The URL carries a secret (a Logic App's `sig`): it is never logged; errors name only its origin.
 */
import http from 'node:http';
import https from 'node:https';
import type { AlertWebhookBody } from '@iot-ingest/contracts';
import { ALERT_ID_HEADER } from '@iot-ingest/contracts';

export type DeliveryResult =
  | { readonly kind: 'delivered' }
  | { readonly kind: 'retry'; readonly reason: string; readonly retryAfterMs?: number }
  | { readonly kind: 'refused'; readonly reason: string };

export interface WebhookTarget {
  readonly url: string;
  /** Per attempt. */
  readonly timeoutMs: number;
}

/** Inside an invocation: attempts and the pauses before the second and third. */
export const INLINE_BACKOFF_MS: readonly number[] = [100, 400];
/** Longest Retry-After honoured inside an invocation. */
const MAX_INLINE_RETRY_AFTER_MS = 2_000;

/** The origin only: what may appear in logs and errors. */
export function describeTarget(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(unparseable URL)';
  }
}

/**
 * Keep-alive agents (one per scheme): a notification reuses the connection of the one before. Node's own
 * HTTP client rather than `fetch`: on loopback fetch costs about four times the CPU per POST, and a burst of
 * alerts is POSTed from inside the trigger's invocation.
 */
const agents = {
  'http:': new http.Agent({ keepAlive: true, maxSockets: 16 }),
  'https:': new https.Agent({ keepAlive: true, maxSockets: 16 }),
};

export function postOnce(target: WebhookTarget, body: AlertWebhookBody, key: string): Promise<DeliveryResult> {
  const origin = describeTarget(target.url);
  return new Promise<DeliveryResult>((resolve) => {
    let url: URL;
    try {
      url = new URL(target.url);
    } catch {
      return resolve({ kind: 'refused', reason: `${origin}: not a URL` });
    }
    const client = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : undefined;
    if (!client) return resolve({ kind: 'refused', reason: `${origin}: not an http(s) URL` });
    const payload = JSON.stringify(body);
    let settled = false;
    const settle = (result: DeliveryResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const request = client.request(
      url,
      {
        method: 'POST',
        agent: agents[url.protocol as 'http:' | 'https:'],
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
          [ALERT_ID_HEADER]: key,
        },
      },
      (response) => {
        // The body is not needed; drain it so the connection can be reused. A redirect is not followed
        // (its status is a refusal like any other 3xx/4xx).
        response.resume();
        response.once('end', () => settle(classify(response.statusCode ?? 0, response.headers['retry-after'], origin)));
        response.once('error', (err) => settle({ kind: 'retry', reason: `${origin}: ${errorReason(err)}` }));
      },
    );
    const timer = setTimeout(() => {
      settle({ kind: 'retry', reason: `${origin}: no answer within ${target.timeoutMs} ms` });
      request.destroy();
    }, target.timeoutMs);
    request.once('error', (err) => settle({ kind: 'retry', reason: `${origin}: ${errorReason(err)}` }));
    request.end(payload);
  });
}

function classify(status: number, retryAfterHeader: string | undefined, origin: string): DeliveryResult {
  if (status >= 200 && status < 300) return { kind: 'delivered' };
  const reason = `${origin} answered ${status}`;
  if (status === 408 || status === 429 || status >= 500) {
    const retryAfterMs = retryAfter(retryAfterHeader ?? null);
    return retryAfterMs === undefined ? { kind: 'retry', reason } : { kind: 'retry', reason, retryAfterMs };
  }
  return { kind: 'refused', reason };
}

function errorReason(err: Error): string {
  return (err as Error & { code?: string }).code ?? err.message;
}

/** Quick attempts inside an invocation (the first immediately). */
export async function postWithRetry(
  target: WebhookTarget,
  body: AlertWebhookBody,
  key: string,
  backoffMs: readonly number[] = INLINE_BACKOFF_MS,
): Promise<DeliveryResult> {
  let result = await postOnce(target, body, key);
  for (const pause of backoffMs) {
    if (result.kind !== 'retry') return result;
    const waitMs = Math.min(MAX_INLINE_RETRY_AFTER_MS, Math.max(pause, result.retryAfterMs ?? 0));
    await new Promise((r) => setTimeout(r, waitMs));
    result = await postOnce(target, body, key);
  }
  return result;
}

/** When the sweep tries again after `attempts` failed rounds: 5 s doubling, at most 5 min, jittered ±20 %. */
export function nextRetryDelayMs(attempts: number, random: () => number = Math.random): number {
  const base = Math.min(300_000, 5_000 * 2 ** Math.max(0, attempts - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}

function retryAfter(header: string | null): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
