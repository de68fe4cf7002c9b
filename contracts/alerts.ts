/**
 * Alerts (docs/contracts.md §9): what the hot path writes to Cosmos DB container `alerts` and POSTs to the
 * alert webhook, and what the CLI (`iot-ingest alerts`) and the devstack's live page read back.
 *
 * One document per alert — one (rule, device) episode from `raised` to `resolved` — with a deterministic
 * id, so a redelivered event or a second instance writes the same document, never a second alert.
 */

/** The Cosmos container's default name (app setting `COSMOS_ALERTS_CONTAINER`). Partition key `/pk` = deviceId. */
export const DEFAULT_ALERTS_CONTAINER = 'alerts';

export type AlertState = 'raised' | 'resolved';
export type AlertRuleKind = 'threshold' | 'window' | 'stale';
/** A reading's value as a rule saw it: a window's aggregate, a field's value, or seconds of silence. */
export type AlertValue = number | string | boolean | null;

/**
 * The webhook body, one POST per transition; a Logic Apps "When a HTTP request is received" trigger takes it
 * with the schema in docs/contracts.md §9. `at` is hub time (ISO 8601 UTC): the reading's `enqueuedAt`, a
 * window's end, or a stale deadline; `readingId` is the record id of the reading behind it.
 */
export interface AlertWebhookBody {
  rule: string;
  deviceId: string;
  state: AlertState;
  value: AlertValue;
  at: string;
  readingId: string | null;
}

/** The webhook request's header naming the transition (`{alertId}/{state}`): receivers de-duplicate on it. */
export const ALERT_ID_HEADER = 'x-iot-ingest-alert-id';

export interface AlertDocument {
  /** Deterministic: `{rule}:{deviceId}:{start}` (escaped for Cosmos, hashed when too long). */
  id: string;
  /** = deviceId: a device's alerts and its hot-path state share one logical partition. */
  pk: string;
  type: 'alert';
  rule: string;
  kind: AlertRuleKind;
  deviceId: string;
  state: AlertState;
  /** When, at what value and by which reading it was raised. */
  at: string;
  value: AlertValue;
  readingId: string | null;
  /** Present once resolved. */
  resolvedAt?: string;
  resolvedValue?: AlertValue;
  resolvedReadingId?: string | null;
  /** `failed` when the webhook refused the notification or it could not be delivered in time. */
  webhook?: 'failed';
}

/** The query the CLI and the live page list alerts with (newest first). */
export function alertsQuery(options: { openOnly: boolean; top?: number }): string {
  const top = options.top === undefined ? '' : `TOP ${Math.max(1, Math.floor(options.top))} `;
  const open = options.openOnly ? " AND c.state = 'raised'" : '';
  return `SELECT ${top}c.id, c.rule, c.kind, c.deviceId, c.state, c.at, c["value"], c.readingId, c.resolvedAt, c.resolvedValue, c.resolvedReadingId, c.webhook FROM c WHERE c.type = 'alert'${open} ORDER BY c.at DESC`;
}

/**
 * The request body schema to paste into a Logic Apps "When a HTTP request is received" trigger (with
 * schema validation on, Logic Apps answers 400 to a body that does not match it).
 */
export const ALERT_WEBHOOK_SCHEMA = {
  type: 'object',
  properties: {
    rule: { type: 'string' },
    deviceId: { type: 'string' },
    state: { type: 'string', enum: ['raised', 'resolved'] },
    value: { type: ['number', 'string', 'boolean', 'null'] },
    at: { type: 'string', format: 'date-time' },
    readingId: { type: ['string', 'null'] },
  },
  required: ['rule', 'deviceId', 'state', 'value', 'at', 'readingId'],
  additionalProperties: false,
} as const;

/** What is wrong with a webhook body by that schema (empty: nothing). */
export function alertWebhookBodyProblems(body: unknown): string[] {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return ['the body is not a JSON object'];
  const b = body as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of ALERT_WEBHOOK_SCHEMA.required) if (!Object.hasOwn(b, key)) problems.push(`${key} is required`);
  for (const key of Object.keys(b))
    if (!Object.hasOwn(ALERT_WEBHOOK_SCHEMA.properties, key)) problems.push(`${key} is not a property of the schema`);
  if (Object.hasOwn(b, 'rule') && typeof b.rule !== 'string') problems.push('rule must be a string');
  if (Object.hasOwn(b, 'deviceId') && typeof b.deviceId !== 'string') problems.push('deviceId must be a string');
  if (Object.hasOwn(b, 'state') && b.state !== 'raised' && b.state !== 'resolved')
    problems.push("state must be 'raised' or 'resolved'");
  if (Object.hasOwn(b, 'value') && b.value !== null && !['number', 'string', 'boolean'].includes(typeof b.value))
    problems.push('value must be a number, string, boolean or null');
  if (
    Object.hasOwn(b, 'at') &&
    (typeof b.at !== 'string' || Number.isNaN(Date.parse(b.at)) || !/^\d{4}-\d\d-\d\dT/.test(b.at))
  )
    problems.push('at must be an ISO 8601 date-time');
  if (Object.hasOwn(b, 'readingId') && b.readingId !== null && typeof b.readingId !== 'string')
    problems.push('readingId must be a string or null');
  return problems;
}
