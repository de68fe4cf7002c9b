/**
 * Link addresses and token audiences of the Event Hubs AMQP surface (PROTOCOLS.md §2.2–§2.5). Pure.
 *
 * Entity paths are compared case-insensitively, as the service does (IoT Hub's `$Default` group versus
 * the SDK's `$default`).
 */
import { AmqpConditionError, Condition } from './errors.js';

export type LinkAddress =
  | { readonly kind: 'cbs' }
  | { readonly kind: 'management' }
  /** Producer target: `<hub>` or `<hub>/Partitions/<p>`. */
  | { readonly kind: 'send'; readonly partitionId: string | undefined }
  /** Consumer source: `<hub>/ConsumerGroups/<cg>/Partitions/<p>`. */
  | { readonly kind: 'receive'; readonly consumerGroup: string; readonly partitionId: string }
  | { readonly kind: 'unknown'; readonly entity: string };

/** Drops an `amqp(s)://host[:port]/` or `sb://host/` prefix some clients put on addresses. */
function stripScheme(address: string): string {
  const match = /^[a-z][a-z0-9+.-]*:\/\/[^/]*\/?(.*)$/i.exec(address);
  return match ? (match[1] ?? '') : address;
}

export function splitPath(address: string): string[] {
  return stripScheme(address)
    .split('/')
    .filter((segment) => segment.length > 0);
}

export function parseLinkAddress(address: unknown, eventHubName: string): LinkAddress {
  if (typeof address !== 'string') return { kind: 'unknown', entity: String(address) };
  if (address === '$cbs') return { kind: 'cbs' };
  if (address === '$management') return { kind: 'management' };
  const segments = splitPath(address);
  const entity = segments.join('/');
  const same = (a: string | undefined, b: string): boolean => a !== undefined && a.toLowerCase() === b.toLowerCase();
  if (!same(segments[0], eventHubName)) return { kind: 'unknown', entity };
  if (segments.length === 1) return { kind: 'send', partitionId: undefined };
  if (segments.length === 2 && same(segments[1], '$management')) return { kind: 'management' };
  if (segments.length === 3 && same(segments[1], 'Partitions')) {
    return { kind: 'send', partitionId: segments[2] as string };
  }
  if (segments.length === 5 && same(segments[1], 'ConsumerGroups') && same(segments[3], 'Partitions')) {
    return { kind: 'receive', consumerGroup: segments[2] as string, partitionId: segments[4] as string };
  }
  return { kind: 'unknown', entity };
}

/** The entity path a token audience names: `sb://host:port/hub/…` → `hub/…` (lower case). */
export function audiencePath(audience: string): string {
  return splitPath(audience).join('/').toLowerCase();
}

/** Whether a token for `tokenPath` grants access to `entityPath` (the same entity or one below it). */
export function audienceCovers(tokenPath: string, entityPath: string): boolean {
  const token = tokenPath.toLowerCase();
  const entity = entityPath.toLowerCase();
  return token === '' || entity === token || entity.startsWith(`${token}/`);
}

/** A partition id from a link address or request, as a number in [0, partitionCount). */
export function parsePartitionId(partitionId: string | undefined, partitionCount: number): number {
  const p = partitionId !== undefined && /^\d+$/.test(partitionId) ? Number(partitionId) : Number.NaN;
  if (!(p >= 0 && p < partitionCount)) {
    throw new AmqpConditionError(
      Condition.argumentOutOfRange,
      `The specified partition '${String(partitionId)}' is invalid for an EventHub partition sender or receiver. It should be between 0 and ${partitionCount - 1}.`,
    );
  }
  return p;
}
