import { describe, expect, it } from 'vitest';
import { resolveCosmos, resolveStorage } from '../../../cli/endpoints.js';
import type { DevstackConnections } from '../../../cli/endpoints.js';

const devstack: DevstackConnections = {
  cosmos: {
    endpoint: 'https://127.0.0.1:8081/',
    key: 'devkey',
    database: 'iot-ingest',
    container: 'telemetry',
    caCertPath: '/d/certs/ca.pem',
  },
  storage: { connectionString: 'UseDevelopmentStorage=true', coldContainer: 'cold' },
};

describe('cli/endpoints', () => {
  it('cosmos: connections.json when nothing else is given', () => {
    expect(resolveCosmos({}, {}, devstack)).toEqual(devstack.cosmos);
  });

  it('cosmos: flags beat environment, environment beats connections.json', () => {
    const env = { COSMOS_ENDPOINT: 'https://env.example/', COSMOS_KEY: 'envkey', COSMOS_DATABASE: 'envdb' };
    expect(resolveCosmos({ cosmosEndpoint: 'https://flag.example/', cosmosKey: 'flagkey' }, env, devstack)).toEqual({
      endpoint: 'https://flag.example/',
      key: 'flagkey',
      database: 'envdb',
      container: 'telemetry',
    });
  });

  it('cosmos: another endpoint never borrows the devstack key or CA (absent key → Entra ID)', () => {
    const target = resolveCosmos({ cosmosEndpoint: 'https://acct.documents.azure.com:443/' }, {}, devstack);
    expect(target).toEqual({
      endpoint: 'https://acct.documents.azure.com:443/',
      database: 'iot-ingest',
      container: 'telemetry',
    });
  });

  it('cosmos: no endpoint anywhere, or one that is not a URL, is an error naming the ways to give one', () => {
    expect(() => resolveCosmos({}, {}, {})).toThrow(/--cosmos-endpoint.*COSMOS_ENDPOINT.*npm run cosmos/);
    expect(() => resolveCosmos({ cosmosEndpoint: 'not a url' }, {}, {})).toThrow("'not a url' is not a URL");
  });

  it('storage: flag, then environment, then connections.json; the container follows the same order', () => {
    expect(resolveStorage({}, {}, devstack)).toEqual({
      connectionString: 'UseDevelopmentStorage=true',
      container: 'cold',
    });
    expect(resolveStorage({}, { AZURE_STORAGE_CONNECTION_STRING: 'env-cs' }, devstack)).toEqual({
      connectionString: 'env-cs',
      container: 'telemetry',
    });
    expect(
      resolveStorage(
        { storageConnectionString: 'flag-cs', coldContainer: 'c2' },
        { AZURE_STORAGE_CONNECTION_STRING: 'env-cs' },
        devstack,
      ),
    ).toEqual({ connectionString: 'flag-cs', container: 'c2' });
    expect(
      resolveStorage(
        { storageAccountUrl: 'https://acct.blob.core.windows.net' },
        { AZURE_STORAGE_CONNECTION_STRING: 'x' },
        {},
      ),
    ).toEqual({
      accountUrl: 'https://acct.blob.core.windows.net',
      container: 'telemetry',
    });
  });

  it('storage: nothing anywhere is an error naming the flags, variables and the devstack', () => {
    expect(() => resolveStorage({}, {}, {})).toThrow(
      /--storage-connection-string.*AZURE_STORAGE_CONNECTION_STRING.*npm run storage/,
    );
  });
});
