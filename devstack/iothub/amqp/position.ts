/**
 * The receiver's start position: the selector filter the client puts on the link source
 * (`amqp.annotation.x-opt-offset > '-1'`, PROTOCOLS.md §2.4), parsed and resolved against the log to the
 * first sequence number to deliver. Pure apart from reading the log's index.
 */
import type { PartitionedLog } from '../log-types.js';
import { AmqpConditionError, Condition } from './errors.js';

export type StartField = 'offset' | 'sequence' | 'time';

export interface StartPosition {
  readonly field: StartField;
  readonly inclusive: boolean;
  readonly value: string;
}

const FIELDS: Record<string, StartField> = {
  'x-opt-offset': 'offset',
  'x-opt-sequence-number': 'sequence',
  'x-opt-enqueued-time': 'time',
};

const FILTER = /^\s*amqp\.annotation\.(x-opt-offset|x-opt-sequence-number|x-opt-enqueued-time)\s*(>=|>)\s*'([^']*)'\s*$/;

/** No filter means "from the beginning", as the service treats a receiver without one. */
export function parseSelectorFilter(filter: string | undefined): StartPosition {
  if (filter === undefined || filter.trim() === '') return { field: 'offset', inclusive: false, value: '-1' };
  const match = FILTER.exec(filter);
  if (!match) {
    throw new AmqpConditionError(Condition.argument, `The selector filter '${filter}' is not supported.`);
  }
  return { field: FIELDS[match[1] as string] as StartField, inclusive: match[2] === '>=', value: match[3] as string };
}

function parseInteger(position: StartPosition): number {
  if (!/^-?\d{1,16}$/.test(position.value)) {
    throw new AmqpConditionError(Condition.argument, `The ${position.field} '${position.value}' in the filter is not a number.`);
  }
  return Number(position.value);
}

/** First sequence number to deliver for `position` on `partition`. */
export function resolveStartSequenceNumber(log: PartitionedLog, partition: number, position: StartPosition): number {
  const info = log.info(partition);
  const next = info.lastSequenceNumber + 1;
  switch (position.field) {
    case 'offset': {
      if (position.value === '@latest') return next;
      if (position.value === '-1') return 0;
      parseInteger(position);
      const seq = log.sequenceNumberForOffset(partition, position.value);
      if (seq === undefined) {
        throw new AmqpConditionError(Condition.argument, `The offset '${position.value}' is not valid.`);
      }
      const exact = log.read(partition, seq, 1)[0]?.offset === position.value;
      return exact && !position.inclusive ? seq + 1 : seq;
    }
    case 'sequence': {
      const n = parseInteger(position);
      const start = position.inclusive ? n : n + 1;
      if (start > next) {
        throw new AmqpConditionError(
          Condition.argumentOutOfRange,
          `The supplied sequence number '${n}' is invalid. The last sequence number in the system is '${info.lastSequenceNumber}'.`,
        );
      }
      return Math.max(start, 0);
    }
    case 'time': {
      const ms = parseInteger(position);
      return log.sequenceNumberAfterTime(partition, position.inclusive ? ms - 1 : ms);
    }
  }
}
