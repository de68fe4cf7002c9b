/**
 * edgeHub module inputs through the ModuleClient (MQTT transport): input `put` (the put request JSON;
 * channel from the `channel` message property or the default), input `binary` (raw; same channel rule),
 * any other input → the default channel (raw). Statuses go to output `status`.
 */
import { isValidChannelName } from '@iot-ingest/batching';
import type { Ingest } from '../ingest.js';
import type { Logger } from '../log.js';
import { checkRawPayload, parsePutRequest } from './parse.js';

export const STATUS_OUTPUT = 'status';

/** What an input message looks like (azure-iot-common Message). */
export interface InputMessageLike {
  readonly data: unknown;
  readonly properties: { getValue(key: string): unknown };
}

export interface InputClientLike {
  on(event: 'inputMessage', listener: (inputName: string, message: InputMessageLike) => void): unknown;
  complete(message: InputMessageLike): Promise<unknown>;
}

function toBytes(data: unknown): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (data === undefined || data === null) return Buffer.alloc(0);
  return Buffer.from(JSON.stringify(data), 'utf8');
}

/** Handle one input message; exported for unit tests. Resolves when it may be completed. */
export function handleEdgeHubInput(
  inputName: string,
  message: InputMessageLike,
  ingest: Ingest,
  defaultChannel: string | undefined,
): Promise<void> | undefined {
  const property = message.properties.getValue('channel');
  const named = typeof property === 'string' && property !== '' ? property : undefined;
  const bytes = toBytes(message.data);
  // edgeHub names the module a routed message came from in `$.cmid` (the record's sourceModule).
  const cmid = message.properties.getValue('$.cmid');
  const sender = typeof cmid === 'string' && cmid !== '' ? { sourceModule: cmid } : {};
  if (inputName === 'put') {
    const parsed = parsePutRequest(bytes);
    const channel = named ?? defaultChannel;
    const base = { source: 'edgehub' as const, qos: 1 as const, channel: channel ?? '', correlate: true };
    if (!parsed.ok) {
      ingest.refuse({ ...base, id: parsed.id }, parsed.code, parsed.message, parsed.code === 'MessageTooLargeException' ? 'too_large' : 'invalid', `input ${inputName}`);
      return undefined;
    }
    if (channel === undefined) {
      ingest.refuse({ ...base, id: parsed.id }, 'InvalidRequestException', "no 'channel' message property and no default channel is configured (IotAnalyticsDefaultChannelName)");
      return undefined;
    }
    if (!isValidChannelName(channel)) {
      ingest.refuse({ ...base, id: parsed.id }, 'InvalidRequestException', `channel name '${channel.slice(0, 64)}' is invalid: use 1-128 of [a-zA-Z0-9_], not starting with __`);
      return undefined;
    }
    return ingest.submit({ ...base, ...sender, id: parsed.id, payload: parsed.payload, form: parsed.form });
  }
  const channel = inputName === 'binary' ? (named ?? defaultChannel) : defaultChannel;
  const base = { source: 'edgehub' as const, qos: 1 as const, channel: channel ?? '', correlate: false, id: undefined };
  if (channel === undefined) {
    ingest.refuse(base, 'InvalidRequestException', `no default channel is configured (IotAnalyticsDefaultChannelName) for input '${inputName.slice(0, 64)}'`);
    return undefined;
  }
  if (!isValidChannelName(channel)) {
    ingest.refuse(base, 'InvalidRequestException', `channel name '${channel.slice(0, 64)}' is invalid: use 1-128 of [a-zA-Z0-9_], not starting with __`);
    return undefined;
  }
  const raw = checkRawPayload(bytes);
  if (!raw.ok) {
    ingest.refuse(base, raw.code, raw.message, raw.code === 'MessageTooLargeException' ? 'too_large' : 'invalid');
    return undefined;
  }
  return ingest.submit({ ...base, ...sender, payload: Buffer.from(bytes) });
}

export function attachEdgeHubInputs(client: InputClientLike, ingest: Ingest, defaultChannel: () => string | undefined, log: Logger): void {
  client.on('inputMessage', (inputName, message) => {
    let waiting: Promise<void> | undefined;
    try {
      waiting = handleEdgeHubInput(inputName, message, ingest, defaultChannel());
    } catch (err) {
      log.error({ input: inputName, error: (err as Error).message }, 'input handler failed');
    }
    const complete = () =>
      client.complete(message).catch((err: unknown) => log.debug({ input: inputName, error: (err as Error).message }, 'complete failed'));
    if (waiting) void waiting.then(complete, complete);
    else void complete();
  });
}
