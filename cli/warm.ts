/**
 * `query warm`: Cosmos DB SQL against the warm container, with parameters, all pages read.
 * Errors become one line naming what failed (endpoint, database/container, or the SQL).
 */
import type { JSONValue } from '@azure/cosmos';
import { CosmosClient } from '@azure/cosmos';
import { cosmosClientOptions } from '@iot-ingest/contracts';
import { oneLine } from './errors.js';
import type { CosmosTarget } from './endpoints.js';
import type { QueryParameter } from './params.js';

/** The service's message is often JSON in text (`Message: {"Errors":[…]}`); keep its first error. */
function cosmosMessage(err: unknown): string {
  const text = oneLine(err);
  const errors = /"Errors":\s*\[\s*"((?:[^"\\]|\\.)*)"/.exec((err as Error)?.message ?? '');
  return errors?.[1] ? errors[1].replace(/\\"/g, '"') : text;
}

export async function runWarmQuery(target: CosmosTarget, sql: string, params: QueryParameter[]): Promise<unknown[]> {
  // Without a key: Microsoft Entra ID (az login, managed identity…); loaded only then, it is heavy.
  const credential = target.key ? undefined : new (await import('@azure/identity')).DefaultAzureCredential();
  const client = new CosmosClient(cosmosClientOptions({ ...target, credential }));
  try {
    const container = client.database(target.database).container(target.container);
    const { resources } = await container.items
      .query<unknown>({ query: sql, parameters: params.map((p) => ({ name: p.name, value: p.value as JSONValue })) })
      .fetchAll();
    return resources;
  } catch (err) {
    const e = err as { code?: number | string; statusCode?: number };
    const status = typeof e.code === 'number' ? e.code : e.statusCode;
    if (status === 400) throw new Error(`SQL error: ${cosmosMessage(err)}`, { cause: err });
    if (status === 404) {
      throw new Error(`Cosmos DB container ${target.database}/${target.container} not found at ${target.endpoint}`, {
        cause: err,
      });
    }
    if (status === 401 || status === 403) {
      throw new Error(`Cosmos DB at ${target.endpoint} refused the credentials (${status})`, { cause: err });
    }
    throw new Error(`cannot query Cosmos DB at ${target.endpoint}: ${cosmosMessage(err)}`, { cause: err });
  } finally {
    client.dispose();
  }
}
