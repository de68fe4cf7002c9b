/**
 * A telemetry PUBLISH becomes one log event (PROTOCOLS.md §1.6, §2.7). Pure: decides and shapes; the
 * broker appends and acks.
 */
import type { HubEventInput } from '../log-types.js';
import { decodePropertyBag, hubMessageSizeBytes, MAX_MESSAGE_BYTES } from './property-bag.js';

export type TelemetryRefusal = 'oversize' | 'bad-property-bag';

export type TelemetryVerdict =
  | { readonly ok: true; readonly event: HubEventInput }
  | { readonly ok: false; readonly reason: TelemetryRefusal; readonly detail: string };

export interface TelemetryPublish {
  readonly deviceId: string;
  readonly moduleId?: string;
  readonly bag: string;
  readonly body: Buffer;
  readonly retain: boolean;
  /** Per-connection annotations (auth method, generation id), shared by every event of the connection. */
  readonly annotations: Readonly<Record<string, unknown>>;
}

export function telemetryEvent(publish: TelemetryPublish): TelemetryVerdict {
  let bag;
  try {
    bag = decodePropertyBag(publish.bag);
  } catch (err) {
    return { ok: false, reason: 'bad-property-bag', detail: (err as Error).message };
  }
  // The hub turns RETAIN=1 into an application property rather than retaining anything.
  if (publish.retain) bag.applicationProperties['mqtt-retain'] = 'true';
  const sizeBytes = hubMessageSizeBytes(publish.body, bag);
  if (sizeBytes > MAX_MESSAGE_BYTES) {
    return { ok: false, reason: 'oversize', detail: `${sizeBytes} bytes > ${MAX_MESSAGE_BYTES}` };
  }
  return {
    ok: true,
    event: {
      deviceId: publish.deviceId,
      ...(publish.moduleId === undefined ? {} : { moduleId: publish.moduleId }),
      body: publish.body,
      systemProperties: bag.systemProperties,
      applicationProperties: bag.applicationProperties,
      partitionKey: publish.deviceId,
      annotations: publish.annotations,
      messageSource: 'Telemetry',
    },
  };
}

/** `iothub-connection-auth-method` / `-auth-generation-id`, as the hub stamps SAS-authenticated telemetry. */
export function connectionAnnotations(moduleId: string | undefined, generationId: string): Record<string, unknown> {
  return {
    'iothub-connection-auth-method': JSON.stringify({
      scope: moduleId === undefined ? 'device' : 'module',
      type: 'sas',
      issuer: 'iothub',
      acceptingIpFilterRule: null,
    }),
    'iothub-connection-auth-generation-id': generationId,
  };
}
