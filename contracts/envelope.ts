/**
 * Edge → cloud: the batch envelope (docs/contracts.md §4). The edge module's IoT Hub sink writes it;
 * the Functions app's record normaliser reads it. One IoT Hub message per batch, on module output
 * `upstream`, with these properties and this body.
 */

/** Message property naming the envelope's schema; its absence marks a plain device message. */
export const SCHEMA_PROPERTY = 'iot-ingest-schema';
/** What the module sends now: per-message ids from its store, the leaf's identity per message. */
export const SCHEMA_BATCH_V2 = 'batch/v2';
/** What modules already in the field send; still read. */
export const SCHEMA_BATCH_V1 = 'batch/v1';
/** Message property naming the IoT Analytics channel of every reading in the envelope. */
export const CHANNEL_PROPERTY = 'channel';
export const ENVELOPE_CONTENT_TYPE = 'application/json';
export const ENVELOPE_CONTENT_ENCODING = 'utf-8';

/** `origin`: 16 lowercase hex characters naming the module's store (contracts §4). */
export const ORIGIN_PATTERN = /^[0-9a-f]{16}$/;

/**
 * How a payload rides in an entry — exactly one member:
 * - `json`: canonical JSON text, embedded verbatim (`JSON.stringify(JSON.parse(p)) === p`);
 * - `jsonText`: any other JSON text, as a JSON string (its exact bytes are the payload);
 * - `base64Message`: a put request's base64 `message`, normalised; its characters are the payload;
 * - `base64`: anything else, the payload's bytes in base64.
 */
export type EnvelopePayload =
  | { readonly json: unknown; readonly jsonText?: never; readonly base64Message?: never; readonly base64?: never }
  | { readonly jsonText: string; readonly json?: never; readonly base64Message?: never; readonly base64?: never }
  | { readonly base64Message: string; readonly json?: never; readonly jsonText?: never; readonly base64?: never }
  | { readonly base64: string; readonly json?: never; readonly jsonText?: never; readonly base64Message?: never };

export const PAYLOAD_MEMBERS = ['json', 'jsonText', 'base64Message', 'base64'] as const;

/** One reading in a `batch/v2` envelope. */
export type EnvelopeMessageV2 = {
  /** The message's number in its origin's store: with `origin`, its id across re-sends. */
  readonly n: number;
  /** The connector message id (the request's `id`, or a generated one). */
  readonly id: string;
  /** The device's request id, when its status is correlated. */
  readonly requestId?: string;
  /** Epoch ms when the edge module accepted it. */
  readonly acceptedAt: number;
  /** Input on the module's MQTT listener: the publishing device's position in the envelope's `devices`. */
  readonly d?: number;
  /** The module that sent it, for edgeHub input. */
  readonly sourceModule?: string;
} & EnvelopePayload;

/** The `batch/v2` body: UTF-8 JSON `{"v":2,"channel":…,"origin":…,"devices":[…],"messages":[…]}`. */
export interface BatchEnvelopeV2 {
  readonly v: 2;
  readonly channel: string;
  readonly origin: string;
  /** The publishing devices of the listener input in this envelope, each once (absent when none). */
  readonly devices?: readonly string[];
  readonly messages: readonly EnvelopeMessageV2[];
}

/** One reading in a `batch/v1` envelope (modules in the field): exactly one of `json` and `base64`. */
export type EnvelopeMessageV1 = {
  readonly id: string;
  readonly requestId?: string;
  readonly acceptedAt: number;
} & ({ readonly json: unknown; readonly base64?: never } | { readonly base64: string; readonly json?: never });

/** The `batch/v1` body: `{"v":1,"channel":…,"messages":[…]}`. */
export interface BatchEnvelopeV1 {
  readonly v: 1;
  readonly channel: string;
  readonly messages: readonly EnvelopeMessageV1[];
}
