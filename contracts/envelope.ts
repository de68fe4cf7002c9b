/**
 * Edge → cloud: the batch envelope (docs/contracts.md §4). The edge module's IoT Hub sink writes it;
 * the Functions app's record normaliser reads it. One IoT Hub message per batch, on module output
 * `upstream`, with these properties and this body.
 */

/** Message property naming the envelope's schema; its absence marks a plain device message. */
export const SCHEMA_PROPERTY = 'iot-ingest-schema';
export const SCHEMA_BATCH_V1 = 'batch/v1';
/** Message property naming the IoT Analytics channel of every reading in the envelope. */
export const CHANNEL_PROPERTY = 'channel';
export const ENVELOPE_CONTENT_TYPE = 'application/json';
export const ENVELOPE_CONTENT_ENCODING = 'utf-8';

/** One reading in an envelope: exactly one of `json` (the payload verbatim) and `base64`. */
export type EnvelopeMessage = {
  readonly id: string;
  /** The device's request id, when its status is correlated. */
  readonly requestId?: string;
  /** Epoch ms when the edge module accepted it. */
  readonly acceptedAt: number;
} & ({ readonly json: unknown; readonly base64?: never } | { readonly base64: string; readonly json?: never });

/** The body: UTF-8 JSON `{"v":1,"channel":…,"messages":[…]}`. */
export interface BatchEnvelopeV1 {
  readonly v: 1;
  readonly channel: string;
  readonly messages: readonly EnvelopeMessage[];
}
