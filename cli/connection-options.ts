/**
 * The flags that say where a command's data is (Cosmos DB, Blob Storage), shared by every command that
 * reads it. Secrets never come from the command line: any user on the machine can read another's
 * arguments (`ps`, /proc) and shells keep them in history. A key comes from the environment
 * (`COSMOS_KEY`, `AZURE_STORAGE_CONNECTION_STRING`), from a file named by a flag (`--cosmos-key-file`,
 * `--storage-connection-string-file`), or from the local devstack; the old flags that took the secret
 * itself are refused with a message that says what to use, and never echo the value.
 */
import { readFileSync } from 'node:fs';
import { Option } from 'commander';
import type { Command } from 'commander';
import type { CosmosFlags, StorageFlags } from './endpoints.js';

export interface CosmosOptions extends Omit<CosmosFlags, 'cosmosKey'> {
  cosmosKeyFile?: string;
}

export interface StorageOptions extends Omit<StorageFlags, 'storageConnectionString'> {
  storageConnectionStringFile?: string;
}

/** A flag that used to take a secret: refused, naming what replaces it; the value is never shown. */
function refusedSecretFlag(flags: string, instead: string): Option {
  const name = flags.split(' ')[0];
  return new Option(flags).hideHelp().argParser((): never => {
    throw new Error(
      `${name} is not accepted: a key on the command line is visible to other users and kept in shell history; ${instead}`,
    );
  });
}

/** The secret in `file` (trailing whitespace and line break removed). */
export function readSecretFile(file: string, flag: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(
      `${flag}: cannot read '${file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      { cause: err },
    );
  }
  const secret = text.trimEnd();
  if (secret === '') throw new Error(`${flag}: '${file}' is empty`);
  return secret;
}

export function addCosmosOptions(command: Command): Command {
  return command
    .option('--cosmos-endpoint <url>', 'Cosmos DB endpoint (env COSMOS_ENDPOINT; default .devstack)')
    .option(
      '--cosmos-key-file <file>',
      'file holding the account key (else env COSMOS_KEY; neither: Microsoft Entra ID)',
    )
    .option('--cosmos-database <name>', 'database (env COSMOS_DATABASE; default iot-ingest)')
    .option('--cosmos-container <name>', 'container (env COSMOS_CONTAINER; default telemetry)')
    .option('--cosmos-ca-cert <file>', 'PEM CA to trust for this endpoint (env COSMOS_CA_CERT_PATH)')
    .addOption(refusedSecretFlag('--cosmos-key <key>', 'set COSMOS_KEY or pass --cosmos-key-file <file>'));
}

export function addStorageOptions(command: Command): Command {
  return command
    .option(
      '--storage-connection-string-file <file>',
      'file holding the storage connection string (else env AZURE_STORAGE_CONNECTION_STRING)',
    )
    .option('--storage-account-url <url>', 'blob account URL, Microsoft Entra ID (env AZURE_STORAGE_ACCOUNT_URL)')
    .option('--cold-container <name>', 'cold container (env COLD_CONTAINER; default telemetry)')
    .addOption(
      refusedSecretFlag(
        '--storage-connection-string <cs>',
        'set AZURE_STORAGE_CONNECTION_STRING or pass --storage-connection-string-file <file>',
      ),
    );
}

export function cosmosFlags(options: CosmosOptions): CosmosFlags {
  const { cosmosKeyFile, ...rest } = options;
  return cosmosKeyFile === undefined
    ? rest
    : { ...rest, cosmosKey: readSecretFile(cosmosKeyFile, '--cosmos-key-file') };
}

export function storageFlags(options: StorageOptions): StorageFlags {
  const { storageConnectionStringFile, ...rest } = options;
  return storageConnectionStringFile === undefined
    ? rest
    : {
        ...rest,
        storageConnectionString: readSecretFile(storageConnectionStringFile, '--storage-connection-string-file'),
      };
}
