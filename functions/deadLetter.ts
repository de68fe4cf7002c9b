/**
 * Dead letters (container `analytics-deadletter`, contracts §5): what could not be read or delivered,
 * kept with its position and error so nothing is dropped silently.
 *
 * Layout:
 * - `malformed/p{partition}-{sequenceNumber}.json`: one malformed event (its body once, with its bad
 *   envelope entries listed) — written by every function that meets it, under the same name with the
 *   same content (idempotent);
 * - `forwarder/p{partition}-{firstSeq}-{lastSeq}-{invocationId}.json`: the forwarder's undeliverable
 *   messages of one invocation.
 */
import type { ContainerClient } from '@azure/storage-blob';
import type { MalformedEvent } from './record.js';

export interface UndeliveredMessage {
  /** The BatchPutMessage messageId (= the record id). */
  readonly messageId: string;
  readonly recordId: string;
  readonly channel: string | null;
  readonly deviceId: string;
  readonly error: string;
  readonly errorMessage: string;
  readonly reason: string;
  readonly payloadBase64: string;
}

export interface ForwarderDeadLetter {
  readonly function: string;
  readonly invocationId: string;
  readonly partition: string;
  readonly firstSequenceNumber: number;
  readonly lastSequenceNumber: number;
  readonly writtenAt: string;
  readonly messages: readonly UndeliveredMessage[];
}

export function malformedBlobName(item: Pick<MalformedEvent, 'partition' | 'sequenceNumber'>): string {
  return `malformed/p${item.partition}-${item.sequenceNumber}.json`;
}

export function forwarderBlobName(letter: Pick<ForwarderDeadLetter, 'partition' | 'firstSequenceNumber' | 'lastSequenceNumber' | 'invocationId'>): string {
  return `forwarder/p${letter.partition}-${letter.firstSequenceNumber}-${letter.lastSequenceNumber}-${letter.invocationId}.json`;
}

async function uploadJson(container: ContainerClient, name: string, value: unknown): Promise<void> {
  const body = Buffer.from(JSON.stringify(value, null, 2) + '\n', 'utf8');
  await container.getBlockBlobClient(name).uploadData(body, { blobHTTPHeaders: { blobContentType: 'application/json' } });
}

/** Blobs written at once: a batch of bad events must not open hundreds of requests together. */
const UPLOAD_CONCURRENCY = 8;

/** One blob per malformed event. Returns the number of blobs written. */
export async function writeMalformed(container: ContainerClient, items: readonly MalformedEvent[]): Promise<number> {
  const byEvent = new Map<string, MalformedEvent[]>();
  for (const item of items) {
    const name = malformedBlobName(item);
    const group = byEvent.get(name);
    if (group) group.push(item);
    else byEvent.set(name, [item]);
  }
  const groups = [...byEvent];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < groups.length) {
      const [name, group] = groups[next++] as [string, MalformedEvent[]];
      await uploadJson(container, name, { items: group });
    }
  };
  await Promise.all(Array.from({ length: Math.min(UPLOAD_CONCURRENCY, groups.length) }, worker));
  return byEvent.size;
}

export async function writeForwarderDeadLetter(container: ContainerClient, letter: ForwarderDeadLetter): Promise<string> {
  const name = forwarderBlobName(letter);
  await uploadJson(container, name, letter);
  return name;
}
