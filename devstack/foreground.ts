/**
 * What every `npm run <part>` entry shares: parse a port setting, stop the part once on SIGINT/SIGTERM
 * (then remove its key from `.devstack/connections.json` and exit 0, or 1 if it did not stop cleanly
 * within STOP_DEADLINE_MS or a second signal came), and turn a start-up failure into one line on stderr
 * and exit code 1.
 */
import './quiet.js';
import type { Connections } from '@iot-ingest/contracts';
import { mergeConnection } from '@iot-ingest/contracts';

interface LogLike {
  info(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** A port from a flag or environment variable; the error names the setting. 0 means any free port. */
export function parsePort(raw: string, setting: string): number {
  if (!/^[0-9]+$/.test(raw) || Number(raw) > 65535) throw new Error(`${setting}: '${raw}' is not a port (0–65535)`);
  return Number(raw);
}

/**
 * How long a part may take to stop. Closing SDK clients can wait on a peer that is already gone (e.g. the
 * functions host when the hub and storage were stopped first); a part must not hang the terminal.
 */
export const STOP_DEADLINE_MS = 10_000;

export function stopOnSignals(options: {
  readonly name: string;
  readonly log: LogLike;
  readonly stop: () => Promise<void>;
  /** The connections.json key to remove once stopped. */
  readonly connectionKey?: keyof Connections & string;
  readonly dir: string;
  /** Default STOP_DEADLINE_MS. */
  readonly stopDeadlineMs?: number;
}): void {
  const deadlineMs = options.stopDeadlineMs ?? STOP_DEADLINE_MS;
  const dropKey = (): Promise<unknown> =>
    options.connectionKey ? mergeConnection(options.connectionKey, undefined, options.dir) : Promise.resolve();
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) {
      options.log.error({ signal }, `${options.name}: second ${signal}, exiting without a clean stop`);
      process.exit(1);
    }
    stopping = true;
    options.log.info({ signal }, `stopping ${options.name}`);
    setTimeout(() => {
      options.log.error({ deadlineMs }, `${options.name} did not stop within the deadline; exiting`);
      // Still withdraw the endpoints (bounded), so nothing keeps using a part that is gone.
      void Promise.race([dropKey(), new Promise((resolve) => setTimeout(resolve, 1000))]).finally(() =>
        process.exit(1),
      );
    }, deadlineMs).unref();
    options
      .stop()
      .then(dropKey)
      .then(
        () => process.exit(0),
        (err: unknown) => {
          options.log.error({ err: (err as Error).message }, `${options.name} did not stop cleanly`);
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

/** Run a part's main; a failure to start is one line on stderr and exit code 1, never a stack trace. */
export function runMain(name: string, run: () => Promise<void>): void {
  run().catch((err: unknown) => {
    process.stderr.write(`${name}: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
