/**
 * A transition as the world sees it: the alert document in Cosmos and the webhook body. Pure.
 *
 * A `raised` transition creates the document; a `resolved` one replaces it with both halves. Since `raised`
 * only ever creates (an existing document is left alone) and `resolved` is final, a late or repeated write
 * can never move an alert back from resolved to raised.
 */
import type { AlertDocument, AlertWebhookBody } from '@iot-ingest/contracts';
import type { Transition } from './engine.js';

export function alertDocument(t: Transition): AlertDocument {
  const raised = {
    id: t.alertId,
    pk: t.deviceId,
    type: 'alert' as const,
    rule: t.rule,
    kind: t.kind,
    deviceId: t.deviceId,
    at: t.raised.at,
    value: t.raised.value,
    readingId: t.raised.readingId,
  };
  if (t.state === 'raised') return { ...raised, state: 'raised' };
  return { ...raised, state: 'resolved', resolvedAt: t.at, resolvedValue: t.value, resolvedReadingId: t.readingId };
}

export function webhookBody(t: Transition): AlertWebhookBody {
  return { rule: t.rule, deviceId: t.deviceId, state: t.state, value: t.value, at: t.at, readingId: t.readingId };
}

/** The de-duplication key a receiver sees in the `x-iot-ingest-alert-id` header. */
export function transitionKey(t: Transition): string {
  return `${t.alertId}/${t.state}`;
}
