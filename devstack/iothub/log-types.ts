/**
 * The seam between the emulator's device side (MQTT) and its service side (Event Hubs AMQP):
 * a durable partitioned log. The MQTT side appends; the AMQP side reads and tails.
 */

/** IoT Hub system properties taken from the MQTT property bag (`$.mid`, `$.cid`, ...). */
export interface HubSystemProperties {
  messageId?: string;
  correlationId?: string;
  userId?: string;
  contentType?: string;
  contentEncoding?: string;
  /** `$.on`: the module output name (edgeHub routing); kept for diagnostics. */
  outputName?: string;
  /** `$.exp`, ISO string. */
  expiryTimeUtc?: string;
  /** `$.sub` (PnP component). */
  component?: string;
  /** `$.ifid` */
  interfaceId?: string;
}

/** What the device side hands to `append`. */
export interface HubEventInput {
  readonly deviceId: string;
  readonly moduleId?: string;
  readonly body: Buffer;
  readonly systemProperties: HubSystemProperties;
  /** User properties from the property bag, verbatim. */
  readonly applicationProperties: Readonly<Record<string, string>>;
  /** Partition key stored with the event (the device id for telemetry). */
  readonly partitionKey?: string;
  /** Extra message annotations for Event Hubs-API senders (x-opt-partition-key etc.). */
  readonly annotations?: Readonly<Record<string, unknown>>;
  /** `iothub-message-source`, `Telemetry` for device messages; undefined for plain Event Hubs sends. */
  readonly messageSource?: string;
}

export interface StoredEvent extends HubEventInput {
  readonly partition: number;
  /** Per partition, strictly increasing, starting at 0. */
  readonly sequenceNumber: number;
  /** Decimal digits only (the .NET consumer parses it as a long). */
  readonly offset: string;
  /** Epoch ms when the log accepted it. */
  readonly enqueuedTimeUtc: number;
}

export interface PartitionInfo {
  readonly partition: number;
  /** -1 when empty. */
  readonly beginSequenceNumber: number;
  readonly lastSequenceNumber: number;
  readonly lastOffset: string;
  readonly lastEnqueuedTimeUtc: number;
  readonly isEmpty: boolean;
}

/** What went wrong with a partition's log: frames skipped as unreadable, a torn tail cut on open, a failed write. */
export interface PartitionHealth {
  readonly unreadableFrames: number;
  readonly tornTailBytes: number;
  /** Set once a write failed: the partition takes no more appends until the log is opened again. */
  readonly failure: string | undefined;
}

export interface PartitionedLog {
  readonly partitionCount: number;
  /** Partition for a device: a stable hash of the device id mod partitionCount. */
  partitionFor(key: string): number;
  /** Resolves once the event is durable (written and fsynced, group commit on a bounded interval). */
  append(event: HubEventInput, partition?: number): Promise<StoredEvent>;
  /** Events of one partition with sequenceNumber >= fromSequenceNumber, at most `max`. */
  read(partition: number, fromSequenceNumber: number, max: number): readonly StoredEvent[];
  /** First sequence number whose enqueued time is > epochMs (or next sequence number if none). */
  sequenceNumberAfterTime(partition: number, epochMs: number): number;
  /** Sequence number of the event at `offset` (for offset filters). */
  sequenceNumberForOffset(partition: number, offset: string): number | undefined;
  info(partition: number): PartitionInfo;
  health(partition: number): PartitionHealth;
  /** Called after each append to that partition; returns an unsubscribe function. */
  onAppend(partition: number, listener: (event: StoredEvent) => void): () => void;
  close(): Promise<void>;
}
