/**
 * The `$management` node (PROTOCOLS.md §2.3): READ of the hub (`com.microsoft:eventhub`: name, creation
 * time, partition ids) and of one partition (`com.microsoft:partition`: sequence numbers, last offset
 * and time). Every request carries its own `security_token`, verified like a put-token. Other operations
 * answer 501, an unknown partition 400 `com.microsoft:argument-out-of-range`.
 */
import rhea from 'rhea';
import type { Logger } from 'pino';
import type { PartitionedLog } from '../log-types.js';
import { parsePartitionId } from './addresses.js';
import { verifyServiceToken } from './cbs.js';
import type { ServicePolicy } from './cbs.js';
import { AmqpConditionError, Condition, entityNotFound, statusFor } from './errors.js';
import { reply, requestProperties } from './request-response.js';
import type { Request } from './request-response.js';

export interface ManagementOptions {
  readonly eventHubName: string;
  readonly policy: ServicePolicy;
  readonly log: PartitionedLog;
  /** Reported as the hub's `created_at`. */
  readonly createdAt: Date;
  readonly logger: Logger;
}

/**
 * The SAS token in a request's `security_token`. rhea-based clients put the token string; the
 * pure-Python client (azure-eventhub 5.11) puts its (token, expiry) pair, which its encoder writes as a
 * described value: the token bytes as descriptor, the expiry as value.
 */
function securityToken(value: unknown): unknown {
  const described = (value as { descriptor?: { value?: unknown } } | null | undefined)?.descriptor;
  const token: unknown = described === undefined ? value : described.value;
  return Buffer.isBuffer(token) ? token.toString('utf8') : token;
}

export class Management {
  private readonly hubPath: string;
  private readonly partitionIds: string[];

  constructor(private readonly options: ManagementOptions) {
    this.hubPath = options.eventHubName.toLowerCase();
    this.partitionIds = Array.from({ length: options.log.partitionCount }, (_, p) => String(p));
  }

  onRequest(request: Request, connectionId: number): void {
    const { logger } = this.options;
    try {
      const body = this.answer(requestProperties(request));
      reply(request, { code: 200, description: 'OK' }, logger, body);
    } catch (error) {
      const status = statusFor(error);
      logger.info(
        { connection: connectionId, status: status.code, reason: status.description },
        'management request refused',
      );
      reply(request, status, logger);
    }
  }

  private answer(properties: Record<string, unknown>): Record<string, unknown> {
    const { eventHubName, policy, log, createdAt } = this.options;
    verifyServiceToken(securityToken(properties.security_token), policy, this.hubPath, Date.now(), eventHubName);
    if (properties.operation !== 'READ') {
      throw new AmqpConditionError(
        Condition.notImplemented,
        `The $management operation '${String(properties.operation)}' is not supported.`,
      );
    }
    if (typeof properties.name !== 'string' || properties.name.toLowerCase() !== this.hubPath) {
      throw entityNotFound(String(properties.name));
    }
    if (properties.type === 'com.microsoft:eventhub') {
      return {
        name: eventHubName,
        type: 'com.microsoft:eventhub',
        created_at: createdAt,
        partition_count: rhea.types.wrap_int(log.partitionCount),
        // An AMQP array of str8 (not a list): the .NET client unboxes it as string[].
        partition_ids: rhea.types.wrap_array(this.partitionIds, 0xa1, undefined),
      };
    }
    if (properties.type === 'com.microsoft:partition') {
      const partitionId =
        typeof properties.partition === 'string' ? properties.partition : String(properties.partition);
      const p = parsePartitionId(partitionId, log.partitionCount);
      const info = log.info(p);
      return {
        name: eventHubName,
        type: 'com.microsoft:partition',
        partition: String(p),
        begin_sequence_number: rhea.types.wrap_long(info.beginSequenceNumber),
        last_enqueued_sequence_number: rhea.types.wrap_long(info.lastSequenceNumber),
        last_enqueued_offset: info.lastOffset,
        last_enqueued_time_utc: new Date(info.lastEnqueuedTimeUtc),
        is_partition_empty: info.isEmpty,
      };
    }
    throw new AmqpConditionError(
      Condition.argument,
      `The $management type '${String(properties.type)}' is not supported.`,
    );
  }
}
