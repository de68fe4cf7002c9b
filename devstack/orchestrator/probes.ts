/**
 * Counters read from the sinks themselves (what is really stored, not what a writer believes it wrote):
 * Cosmos reading documents and cold blobs. Probes run in the background at most once per interval and
 * the last value is served, so a slow count never stalls the status line.
 */
import { BlobServiceClient } from '@azure/storage-blob';
import { CosmosClient } from '@azure/cosmos';
import { cosmosClientOptions } from '@iot-ingest/contracts';

export interface CachedProbe {
  /** The last sampled counters (empty before the first sample); starts a refresh when due. */
  read(): Readonly<Record<string, number>>;
  /** Sample now and wait for it. */
  refresh(): Promise<Readonly<Record<string, number>>>;
  close(): void;
}

async function timed<T>(run: () => Promise<T>, onDuration: (ms: number) => void): Promise<T> {
  const t0 = Date.now();
  try {
    return await run();
  } finally {
    onDuration(Date.now() - t0);
  }
}

export function cachedProbe(
  sample: () => Promise<Record<string, number>>,
  minIntervalMs: number,
  close = (): void => undefined,
): CachedProbe {
  let last: Record<string, number> = {};
  let lastAt = 0;
  let running: Promise<Record<string, number>> | undefined;
  let probeErrors = 0;
  let lastDurationMs = 0;
  const refresh = (): Promise<Record<string, number>> =>
    (running ??= timed(sample, (ms) => (lastDurationMs = ms))
      .then(
        (value) => (last = { ...value, ...(probeErrors > 0 ? { probeErrors } : {}) }),
        () => {
          probeErrors++;
          return (last = { ...last, probeErrors });
        },
      )
      .finally(() => {
        lastAt = Date.now();
        running = undefined;
      }));
  return {
    read() {
      // A slow sink (a count over many documents) is sampled less often, so probing never dominates it.
      if (!running && Date.now() - lastAt >= Math.max(minIntervalMs, 5 * lastDurationMs)) void refresh();
      return last;
    },
    refresh,
    close,
  };
}

export function cosmosDocumentsProbe(connection: {
  endpoint: string;
  key: string;
  database: string;
  container: string;
  caCertPath?: string;
}): CachedProbe {
  const client = new CosmosClient(cosmosClientOptions(connection));
  const container = client.database(connection.database).container(connection.container);
  return cachedProbe(
    async () => {
      const { resources } = await container.items
        .query<number>("SELECT VALUE COUNT(1) FROM c WHERE c.type = 'reading'")
        .fetchAll();
      return { documents: resources[0] ?? 0 };
    },
    2000,
    () => client.dispose(),
  );
}

export function blobsProbe(connectionString: string, containerName: string): CachedProbe {
  const container = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(containerName);
  return cachedProbe(async () => {
    let blobs = 0;
    for await (const page of container.listBlobsFlat().byPage({ maxPageSize: 5000 })) {
      blobs += page.segment.blobItems.length;
    }
    return { blobs };
  }, 2000);
}

/** Sum of Prometheus samples whose metric name matches, e.g. `iot_ingest_edge_accepted_total{channel="x"} 12`. */
export function sumPrometheus(text: string, metricName: string, labelFilter?: (labels: string) => boolean): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(metricName)) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!match || match[1] !== metricName) continue;
    if (labelFilter && !labelFilter(match[2] ?? '')) continue;
    const value = Number(match[3]);
    if (Number.isFinite(value)) sum += value;
  }
  return sum;
}
