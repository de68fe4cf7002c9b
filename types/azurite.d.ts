// Azurite ships no type declarations for its deep modules; these cover only what devstack/storage uses.
// The package's `main` is the VS Code extension, so the Blob server is reached by deep path.

declare module 'azurite/dist/src/blob/BlobConfiguration.js' {
  export interface PersistenceLocation {
    locationId: string;
    locationPath: string;
    maxConcurrency: number;
  }
  /** Positional constructor, in Azurite 3.35.0's order. */
  export default class BlobConfiguration {
    constructor(
      host?: string,
      port?: number,
      keepAliveTimeout?: number,
      metadataDBPath?: string,
      extentDBPath?: string,
      persistencePathArray?: PersistenceLocation[],
      enableAccessLog?: boolean,
      accessLogWriteStream?: NodeJS.WritableStream,
      enableDebugLog?: boolean,
      debugLogFilePath?: string,
      loose?: boolean,
      skipApiVersionCheck?: boolean,
      cert?: string,
      key?: string,
      pwd?: string,
      oauth?: string,
      disableProductStyleUrl?: boolean,
      isMemoryPersistence?: boolean,
    );
  }
}

declare module 'azurite/dist/src/blob/BlobServer.js' {
  import type BlobConfiguration from 'azurite/dist/src/blob/BlobConfiguration.js';
  export default class BlobServer {
    constructor(configuration?: BlobConfiguration);
    start(): Promise<void>;
    close(): Promise<void>;
    clean(): Promise<void>;
    /** `http://host:port` once listening (the real port when 0 was asked for). */
    getHttpServerAddress(): string;
  }
}
