/**
 * Receiver start positions resolved against a real log: the selector filter strings the Event Hubs
 * client sends (PROTOCOLS.md §2.4) → the first sequence number the endpoint delivers.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { openPartitionedLog } from '../../devstack/iothub/log/index.js';
import { parseSelectorFilter, resolveStartSequenceNumber } from '../../devstack/iothub/amqp/position.js';
import type { PartitionedLog, StoredEvent } from '../../devstack/iothub/log-types.js';

let dir: string;
let log: PartitionedLog;
const stored: StoredEvent[] = [];

function startFor(filter: string | undefined, partition = 0): number {
  return resolveStartSequenceNumber(log, partition, parseSelectorFilter(filter));
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'iothub-log-positions-'));
  log = await openPartitionedLog({ dir, partitionCount: 2, fsyncIntervalMs: 1, logger: pino({ level: 'silent' }) });
  for (let n = 0; n < 5; n += 1) {
    stored.push(await log.append({ deviceId: 'd', body: Buffer.from(`event-${n}`), systemProperties: {}, applicationProperties: {} }, 0));
    await new Promise((resolve) => setTimeout(resolve, 3));
  }
});

afterAll(async () => {
  await log.close();
  await rm(dir, { recursive: true, force: true });
});

describe('iothub log positions from selector filters', () => {
  it('parses the three fields and both operators the client sends', () => {
    expect(parseSelectorFilter("amqp.annotation.x-opt-offset > '-1'")).toEqual({ field: 'offset', inclusive: false, value: '-1' });
    expect(parseSelectorFilter("amqp.annotation.x-opt-offset >= '4096'")).toEqual({ field: 'offset', inclusive: true, value: '4096' });
    expect(parseSelectorFilter("amqp.annotation.x-opt-sequence-number > '7'")).toEqual({ field: 'sequence', inclusive: false, value: '7' });
    expect(parseSelectorFilter("amqp.annotation.x-opt-enqueued-time > '1700000000000'")).toEqual({
      field: 'time',
      inclusive: false,
      value: '1700000000000',
    });
    expect(parseSelectorFilter(undefined)).toEqual({ field: 'offset', inclusive: false, value: '-1' });
  });

  it('refuses filters it does not understand with com.microsoft:argument-error', () => {
    for (const bad of ["amqp.annotation.x-opt-offset = '1'", 'x-opt-offset > 1', "amqp.annotation.x-opt-foo > '1'"]) {
      expect(() => parseSelectorFilter(bad)).toThrow(expect.objectContaining({ condition: 'com.microsoft:argument-error' }));
    }
    expect(() => startFor("amqp.annotation.x-opt-offset > 'abc'")).toThrow(expect.objectContaining({ condition: 'com.microsoft:argument-error' }));
  });

  it("starts at the beginning for '-1' and after the last event for '@latest'", () => {
    expect(startFor("amqp.annotation.x-opt-offset > '-1'")).toBe(0);
    expect(startFor("amqp.annotation.x-opt-offset > '@latest'")).toBe(5);
    expect(startFor("amqp.annotation.x-opt-offset > '@latest'", 1)).toBe(0);
  });

  it('starts after an exact offset, at it when inclusive, and at the next event for an offset between events', () => {
    const [, second, third] = stored;
    expect(startFor(`amqp.annotation.x-opt-offset > '${second?.offset}'`)).toBe(2);
    expect(startFor(`amqp.annotation.x-opt-offset >= '${second?.offset}'`)).toBe(1);
    expect(startFor(`amqp.annotation.x-opt-offset > '${Number(second?.offset) + 1}'`)).toBe(third?.sequenceNumber);
  });

  it('starts after a sequence number, at it when inclusive, and refuses one beyond the end', () => {
    expect(startFor("amqp.annotation.x-opt-sequence-number > '1'")).toBe(2);
    expect(startFor("amqp.annotation.x-opt-sequence-number >= '1'")).toBe(1);
    expect(startFor("amqp.annotation.x-opt-sequence-number > '4'")).toBe(5);
    expect(startFor("amqp.annotation.x-opt-sequence-number > '-1'")).toBe(0);
    expect(() => startFor("amqp.annotation.x-opt-sequence-number > '5'")).toThrow(
      expect.objectContaining({ condition: 'com.microsoft:argument-out-of-range' }),
    );
  });

  it('starts at the first event enqueued after the given time', () => {
    const [, second] = stored;
    expect(startFor(`amqp.annotation.x-opt-enqueued-time > '${second?.enqueuedTimeUtc}'`)).toBe(2);
    expect(startFor(`amqp.annotation.x-opt-enqueued-time >= '${second?.enqueuedTimeUtc}'`)).toBe(1);
    expect(startFor("amqp.annotation.x-opt-enqueued-time > '0'")).toBe(0);
    expect(startFor(`amqp.annotation.x-opt-enqueued-time > '${Date.now() + 60_000}'`)).toBe(5);
  });
});
