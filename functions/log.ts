/**
 * The functions' one logger: JSON lines (pino) on stdout, which the Functions host collects. Never log
 * secrets (keys, SAS tokens, connection strings) or whole payloads — positions and counts only.
 */
import { pino } from 'pino';
import type { Logger } from 'pino';

export type { Logger };

export const functionsLogger: Logger = pino({
  name: 'iot-ingest:functions',
  level: process.env.IOT_INGEST_LOG_LEVEL ?? 'info',
});
