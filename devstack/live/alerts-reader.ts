/**
 * The live page's alerts, read from where the product keeps them: Cosmos DB container `alerts`, with the
 * query `iot-ingest alerts` uses. Sampled in the background at most every second; the last answer is
 * served, so a slow query never holds up the page. A container not created yet is no alerts, not an error.
 */
import { CosmosClient } from '@azure/cosmos';
import type { Container } from '@azure/cosmos';
import type { AlertDocument } from '@iot-ingest/contracts';
import { alertsQuery, cosmosClientOptions } from '@iot-ingest/contracts';

export type AlertRow = Pick<
  AlertDocument,
  | 'id'
  | 'rule'
  | 'kind'
  | 'deviceId'
  | 'state'
  | 'at'
  | 'value'
  | 'readingId'
  | 'resolvedAt'
  | 'resolvedValue'
  | 'webhook'
>;

export interface AlertsSnapshot {
  readonly open: readonly AlertRow[];
  readonly recent: readonly AlertRow[];
  readonly error?: string;
}

export interface AlertsReader {
  read(): AlertsSnapshot;
  close(): void;
}

const MIN_INTERVAL_MS = 1000;

export function startAlertsReader(
  connection: { endpoint: string; key: string; database: string; caCertPath?: string },
  containerName: string,
): AlertsReader {
  const options = cosmosClientOptions(connection);
  const client = new CosmosClient(options);
  const container: Container = client.database(connection.database).container(containerName);
  let last: AlertsSnapshot = { open: [], recent: [] };
  let running: Promise<void> | undefined;
  let lastAt = 0;
  const query = async (sql: string): Promise<AlertRow[]> =>
    (await container.items.query<AlertRow>(sql).fetchAll()).resources;
  const refresh = (): Promise<void> =>
    (running ??= Promise.all([
      query(alertsQuery({ openOnly: true, top: 200 })),
      query(alertsQuery({ openOnly: false, top: 20 })),
    ])
      .then(
        ([open, recent]) => void (last = { open, recent }),
        (err: unknown) => {
          const code = (err as { code?: unknown }).code;
          last =
            code === 404
              ? { open: [], recent: [] }
              : { ...last, error: (err as Error).message.split('\n')[0] ?? 'query failed' };
        },
      )
      .finally(() => {
        lastAt = Date.now();
        running = undefined;
      }));
  return {
    read() {
      if (!running && Date.now() - lastAt >= MIN_INTERVAL_MS) void refresh();
      return last;
    },
    close() {
      client.dispose();
      options.agent?.destroy();
    },
  };
}
