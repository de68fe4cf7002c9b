/** The module's one logger: pino JSON lines, namespace `iot-ingest:edge`. Never pass secrets or payloads to it. */
import { pino } from 'pino';
import type { Logger } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger };

export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream): Logger {
  const options = { name: 'iot-ingest:edge', level, base: { pid: process.pid } };
  return destination ? pino(options, destination) : pino(options);
}
