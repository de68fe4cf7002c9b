/**
 * The test API under `/_emulator/` (not AWS; not counted in stats): a channel's stored JSON Lines, the
 * counters, and the faults.
 */
import { AwsError, invalidRequest } from './errors.js';
import { parseFaults } from './faults.js';
import { readJson } from './http.js';
import type { EmulatorState } from './operations.js';
import type { Route } from './routes.js';
import { emptyStats } from './stats.js';

export function emulatorRoutes(state: EmulatorState): Route[] {
  return [
    {
      method: 'GET',
      path: '/_emulator/channels/{name}/messages',
      operation: 'ChannelMessages',
      handle: async ({ params }) => ({
        status: 200,
        body: await state.store.readRaw(params.name as string),
        contentType: 'application/x-ndjson',
      }),
    },
    {
      method: 'GET',
      path: '/_emulator/stats',
      operation: 'GetStats',
      handle: async () => ({ status: 200, body: state.stats }),
    },
    {
      method: 'DELETE',
      path: '/_emulator/stats',
      operation: 'ResetStats',
      handle: async () => {
        state.stats = emptyStats();
        return { status: 204 };
      },
    },
    {
      method: 'GET',
      path: '/_emulator/faults',
      operation: 'GetFaults',
      handle: async () => ({ status: 200, body: state.faults }),
    },
    {
      method: 'POST',
      path: '/_emulator/faults',
      operation: 'SetFaults',
      handle: async ({ req }) => {
        try {
          state.faults = parseFaults(await readJson(req));
        } catch (err) {
          if (err instanceof AwsError) throw err;
          throw invalidRequest((err as Error).message);
        }
        return { status: 200, body: state.faults };
      },
    },
  ];
}
