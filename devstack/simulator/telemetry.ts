/**
 * Realistic readings, pure: temperature, humidity and vibration that drift slowly (a bounded random walk)
 * with sensor noise on top, from a seeded generator so a run is reproducible.
 *
 * Identity end to end: every reading carries `readingId = "{deviceId}:{seq}"` in its payload. The id survives
 * every hop unchanged (edge batch envelope `json`/`base64`, record `body`/`bodyBase64`, Cosmos document,
 * cold blob line, IoT Analytics payload), so a sink's content can be compared with what was sent by id.
 */
import { seededRandom } from '../random.js';

export interface Reading {
  readonly readingId: string;
  readonly deviceId: string;
  readonly seq: number;
  /** ISO 8601, UTC. */
  readonly ts: string;
  readonly temperatureC: number;
  readonly humidityPct: number;
  readonly vibrationMmS: number;
}

function hashSeed(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}

const round = (value: number, digits: number): number => Number(value.toFixed(digits));

/** An injected anomaly: the temperature this much higher, for this long (wall-clock ms of the readings). */
export const ANOMALY_TEMPERATURE_RISE_C = [14, 18] as const;
export const ANOMALY_DURATION_MS = [8_000, 15_000] as const;

/**
 * One device's sensor state: call `next(nowMs)` for each reading. With `anomalyRate` > 0 each reading
 * starts a heat anomaly with that probability (none while one lasts): the temperature jumps by 14–18 °C
 * for 8–15 s, then returns — what a hot-path threshold rule should raise and resolve. The anomalies come
 * from a second seeded generator, so the readings outside them are the same as without anomalies.
 */
export class SensorModel {
  private readonly random: () => number;
  private readonly anomalyRandom: () => number;
  private anomaly: { untilMs: number; riseC: number } | undefined;
  private anomalies = 0;
  private seq = 0;
  private temperatureC: number;
  private humidityPct: number;
  private vibrationMmS: number;

  constructor(
    readonly deviceId: string,
    seed = hashSeed(deviceId),
    firstSeq = 0,
    private readonly anomalyRate = 0,
  ) {
    if (!(anomalyRate >= 0 && anomalyRate <= 1)) throw new Error(`anomaly rate: '${anomalyRate}' must be from 0 to 1`);
    this.random = seededRandom(seed);
    this.anomalyRandom = seededRandom((seed ^ 0x5bd1e995) >>> 0);
    this.seq = firstSeq;
    this.temperatureC = 18 + this.random() * 8;
    this.humidityPct = 35 + this.random() * 25;
    this.vibrationMmS = 0.5 + this.random() * 2;
  }

  /** Anomalies started so far. */
  get anomalyCount(): number {
    return this.anomalies;
  }

  /** The sequence number the next reading will carry. */
  get nextSeq(): number {
    return this.seq;
  }

  next(nowMs: number): Reading {
    const noise = (): number => this.random() - 0.5;
    // Drift: a bounded random walk; noise: independent jitter per reading.
    this.temperatureC = clamp(this.temperatureC + noise() * 0.2, -20, 60);
    this.humidityPct = clamp(this.humidityPct + noise() * 0.5, 5, 95);
    this.vibrationMmS = clamp(this.vibrationMmS + noise() * 0.1, 0, 20);
    const seq = this.seq++;
    if (this.anomaly && nowMs >= this.anomaly.untilMs) this.anomaly = undefined;
    if (!this.anomaly && this.anomalyRate > 0 && this.anomalyRandom() < this.anomalyRate) {
      const [minRise, maxRise] = ANOMALY_TEMPERATURE_RISE_C;
      const [minMs, maxMs] = ANOMALY_DURATION_MS;
      this.anomaly = { untilMs: nowMs + minMs + this.anomalyRandom() * (maxMs - minMs), riseC: minRise + this.anomalyRandom() * (maxRise - minRise) };
      this.anomalies++;
    }
    const riseC = this.anomaly?.riseC ?? 0;
    return {
      readingId: `${this.deviceId}:${seq}`,
      deviceId: this.deviceId,
      seq,
      ts: new Date(nowMs).toISOString(),
      temperatureC: round(this.temperatureC + riseC + noise() * 0.3, 2),
      humidityPct: round(clamp(this.humidityPct + noise() * 1, 0, 100), 1),
      // Occasional spikes, as a real accelerometer shows.
      vibrationMmS: round(this.vibrationMmS + Math.abs(noise()) * (this.random() < 0.02 ? 8 : 0.4), 3),
    };
  }
}

/** JSON bytes of a reading (the form sent on JSON paths). */
export function encodeJson(reading: Reading): Buffer {
  return Buffer.from(JSON.stringify(reading));
}

/**
 * The binary form: one CSV line, deliberately not JSON, so the edge envelope carries it as base64 and
 * the records keep it as `bodyBase64` (exercises the non-JSON path end to end).
 */
export function encodeBinary(reading: Reading): Buffer {
  return Buffer.from(
    `R1,${reading.readingId},${reading.ts},${reading.temperatureC},${reading.humidityPct},${reading.vibrationMmS}`,
  );
}

/** The readingId inside a payload in either form, or undefined when the payload is not a reading. */
export function readingIdOfPayload(payload: Uint8Array | string): string | undefined {
  const text = typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8');
  if (text.startsWith('R1,')) return text.split(',')[1];
  try {
    const parsed = JSON.parse(text) as unknown;
    return readingIdOfJson(parsed);
  } catch {
    return undefined;
  }
}

/** The readingId of a parsed JSON payload. */
export function readingIdOfJson(value: unknown): string | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const object = value as { readingId?: unknown; body?: unknown; bodyBase64?: unknown };
  if (typeof object.readingId === 'string') return object.readingId;
  // A whole record (a sink that stores records rather than the device's payload).
  if ('body' in object || 'bodyBase64' in object) return readingIdOfRecord(object);
  return undefined;
}

/**
 * The readingId carried by a record (Cosmos document or cold blob line, contract §5): `body` when the
 * payload was JSON, else `bodyBase64`.
 */
export function readingIdOfRecord(record: { body?: unknown; bodyBase64?: unknown }): string | undefined {
  if (record.body !== undefined) {
    if (typeof record.body === 'string') return readingIdOfPayload(record.body);
    return readingIdOfJson(record.body);
  }
  if (typeof record.bodyBase64 === 'string') return readingIdOfPayload(Buffer.from(record.bodyBase64, 'base64'));
  return undefined;
}
