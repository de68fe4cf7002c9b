/**
 * The client's receiver links — consumers (PROTOCOLS.md §2.4). The server's end is a sender on
 * `<hub>/ConsumerGroups/<cg>/Partitions/<p>` that streams the partition from the filter's position.
 *
 * Invariants: a reader attaches only under a CBS grant for its partition and is detached when that grant
 * expires; owner-level (epoch) rules hold per consumer group and partition; a reader whose link,
 * session or connection goes away stops and releases its owner level.
 */
import type rhea from 'rhea';
import type { Logger } from 'pino';
import type { PartitionedLog } from '../log-types.js';
import { parsePartitionId } from './addresses.js';
import type { LinkAddress } from './addresses.js';
import type { Cbs } from './cbs.js';
import { AmqpConditionError, Condition, entityNotFound } from './errors.js';
import { OwnerLevels } from './owner-levels.js';
import type { OwnedReader } from './owner-levels.js';
import { parseSelectorFilter, resolveStartSequenceNumber } from './position.js';
import { PartitionStream } from './stream.js';

const RUNTIME_METRIC = 'com.microsoft:enable-receiver-runtime-metric';
const SELECTOR_FILTER = 'apache.org:selector-filter:string';
const EPOCH_PROPERTY = 'com.microsoft:epoch';

export interface ReceiverLinksOptions {
  readonly log: PartitionedLog;
  readonly eventHubName: string;
  /** Compared case-insensitively (`$Default` = `$default`). */
  readonly consumerGroups: readonly string[];
  readonly cbs: Cbs;
  readonly logger: Logger;
}

interface Reader {
  readonly entityPath: string;
  readonly stream: PartitionStream;
  readonly ownerKey: string;
  readonly owned: OwnedReader;
  readonly connection: rhea.Connection;
}

function filterString(source: unknown): string | undefined {
  const filter = (source as { filter?: Record<string, unknown> } | undefined)?.filter;
  const value: unknown = filter?.[SELECTOR_FILTER];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  const inner = (value as { value?: unknown }).value;
  return typeof inner === 'string' ? inner : String(inner);
}

function epochOf(properties: unknown): number | undefined {
  const raw: unknown = (properties as Record<string, unknown> | undefined)?.[EPOCH_PROPERTY];
  if (raw === undefined || raw === null) return undefined;
  const value: unknown = typeof raw === 'object' && 'value' in raw ? (raw as { value: unknown }).value : raw;
  const epoch = typeof value === 'bigint' ? Number(value) : typeof value === 'number' ? value : Number.NaN;
  if (!Number.isFinite(epoch)) {
    throw new AmqpConditionError(Condition.argument, `The owner level (epoch) '${String(value)}' is not a number.`);
  }
  return epoch;
}

function capabilities(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

export class ReceiverLinks {
  private readonly readers = new Map<rhea.Sender, Reader>();
  private readonly ownerLevels = new OwnerLevels();
  private readonly hubPath: string;
  private readonly consumerGroups: Set<string>;

  constructor(private readonly options: ReceiverLinksOptions) {
    this.hubPath = options.eventHubName.toLowerCase();
    this.consumerGroups = new Set(options.consumerGroups.map((group) => group.toLowerCase()));
  }

  /** Attaches a reader, or throws the refusal (the caller closes the link with it). */
  open(
    connection: rhea.Connection,
    sender: rhea.Sender,
    address: Extract<LinkAddress, { kind: 'receive' }>,
    connectionId: number,
  ): void {
    const { log, eventHubName, cbs, logger } = this.options;
    const group = address.consumerGroup.toLowerCase();
    if (!this.consumerGroups.has(group))
      throw entityNotFound(`${eventHubName}/ConsumerGroups/${address.consumerGroup}`);
    const partition = parsePartitionId(address.partitionId, log.partitionCount);
    const entityPath = `${this.hubPath}/consumergroups/${group}/partitions/${partition}`;
    cbs.requireGrant(connection, entityPath);
    const position = parseSelectorFilter(filterString(sender.source));
    const start = resolveStartSequenceNumber(log, partition, position);
    const epoch = epochOf(sender.properties);
    const runtimeMetric = capabilities(sender.desired_capabilities).includes(RUNTIME_METRIC);
    const ownerKey = `${group}/${partition}`;
    const owned: OwnedReader = {
      epoch,
      steal: (description: string): void => {
        this.stop(sender);
        logger.info(
          { connection: connectionId, consumerGroup: group, partition },
          'receiver disconnected by a newer owner',
        );
        sender.close({ condition: Condition.linkStolen, description });
      },
    };
    this.ownerLevels.admit(ownerKey, owned);
    if (runtimeMetric) {
      (
        sender as unknown as { local: { attach: { offered_capabilities?: string[] } } }
      ).local.attach.offered_capabilities = [RUNTIME_METRIC];
    }
    const stream = new PartitionStream(log, partition, sender, start, runtimeMetric, (error) => {
      logger.error({ partition, err: error }, 'reading the log failed; closing the receiver');
      this.stop(sender);
      sender.close({
        condition: Condition.internal,
        description: `Reading partition ${partition} failed: ${error.message}`,
      });
    });
    this.readers.set(sender, { entityPath, stream, ownerKey, owned, connection });
    logger.debug({ connection: connectionId, consumerGroup: group, partition, start, epoch }, 'receiver attached');
    stream.start();
  }

  /** The client granted credit. */
  pump(sender: rhea.Sender): void {
    this.readers.get(sender)?.stream.pump();
  }

  stop(sender: rhea.Sender): void {
    const reader = this.readers.get(sender);
    if (!reader) return;
    this.readers.delete(sender);
    reader.stream.stop();
    this.ownerLevels.release(reader.ownerKey, reader.owned);
  }

  releaseConnection(connection: rhea.Connection): void {
    for (const [sender, reader] of [...this.readers]) if (reader.connection === connection) this.stop(sender);
  }

  releaseSession(session: rhea.Session): void {
    for (const sender of [...this.readers.keys()]) if (sender.session === session) this.stop(sender);
  }

  stopAll(): void {
    for (const sender of [...this.readers.keys()]) this.stop(sender);
  }

  /** Detaches readers whose grant expired, as the service does (clients renew well before). */
  detachExpired(nowMs: number, description: (entityPath: string) => string): void {
    for (const [sender, reader] of [...this.readers]) {
      if (this.options.cbs.covers(reader.connection, reader.entityPath, nowMs)) continue;
      this.stop(sender);
      sender.close({ condition: Condition.unauthorized, description: description(reader.entityPath) });
    }
  }
}
