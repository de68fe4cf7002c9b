/**
 * Channels and their messages on disk: `<dir>/iotanalytics/channels.json` (the channel registry) and
 * one JSON Lines file per channel, `<dir>/iotanalytics/<channel>.jsonl`, each line
 * `{"messageId","payload"(base64),"receivedAt"(ISO)}`. Appends to one channel are serialised, one
 * write per batch, so a batch's lines are never interleaved with another's.
 */
import { appendFile, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { writeFileAtomic } from '@iot-ingest/contracts';
import path from 'node:path';
import { AwsError, resourceNotFound } from './errors.js';
import type { AcceptedMessage } from './validate.js';

export interface RetentionPeriod {
  unlimited?: boolean;
  numberOfDays?: number;
}

export interface ChannelRecord {
  name: string;
  creationTimeMs: number;
  lastUpdateTimeMs: number;
  lastMessageArrivalTimeMs?: number;
  retentionPeriod: RetentionPeriod;
}

export interface StoredMessage {
  messageId: string;
  payload: string;
  receivedAt: string;
}

export class ChannelStore {
  private readonly channels = new Map<string, ChannelRecord>();
  private readonly appendQueues = new Map<string, Promise<unknown>>();
  private registrySave: Promise<unknown> = Promise.resolve();

  private constructor(readonly dir: string) {}

  static async open(devstackDir: string): Promise<ChannelStore> {
    const store = new ChannelStore(path.resolve(devstackDir, 'iotanalytics'));
    await mkdir(store.dir, { recursive: true });
    let saved: ChannelRecord[] = [];
    try {
      saved = JSON.parse(await readFile(store.registryPath(), 'utf8')) as ChannelRecord[];
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new Error(`iotanalytics: cannot read ${store.registryPath()}: ${(err as Error).message}`, { cause: err });
      }
    }
    for (const record of saved) {
      // The last arrival is not rewritten per batch; the data file's mtime is that moment.
      const mtimeMs = await stat(store.messagesPath(record.name)).then(
        (s) => s.mtimeMs,
        () => undefined,
      );
      store.channels.set(record.name, {
        ...record,
        ...(mtimeMs !== undefined ? { lastMessageArrivalTimeMs: Math.floor(mtimeMs) } : {}),
      });
    }
    return store;
  }

  registryPath(): string {
    return path.join(this.dir, 'channels.json');
  }

  messagesPath(channel: string): string {
    return path.join(this.dir, `${channel}.jsonl`);
  }

  list(): ChannelRecord[] {
    return [...this.channels.values()];
  }

  get(name: string): ChannelRecord | undefined {
    return this.channels.get(name);
  }

  require(name: string): ChannelRecord {
    const channel = this.channels.get(name);
    if (!channel) throw resourceNotFound();
    return channel;
  }

  async create(
    name: string,
    retentionPeriod: RetentionPeriod = { unlimited: true },
    nowMs = Date.now(),
  ): Promise<ChannelRecord> {
    if (this.channels.has(name)) {
      throw new AwsError('ResourceAlreadyExistsException', `Channel ${name} already exists.`, {
        resourceId: name,
        resourceArn: channelArn(name),
      });
    }
    const record: ChannelRecord = { name, creationTimeMs: nowMs, lastUpdateTimeMs: nowMs, retentionPeriod };
    this.channels.set(name, record);
    await this.saveRegistry();
    return record;
  }

  /** Changes a channel's retention and saves the registry (UpdateChannel). */
  async update(name: string, retentionPeriod: RetentionPeriod, nowMs = Date.now()): Promise<ChannelRecord> {
    const channel = this.require(name);
    channel.retentionPeriod = retentionPeriod;
    channel.lastUpdateTimeMs = nowMs;
    await this.saveRegistry();
    return channel;
  }

  async delete(name: string): Promise<void> {
    this.require(name);
    this.channels.delete(name);
    await (this.appendQueues.get(name) ?? Promise.resolve());
    await rm(this.messagesPath(name), { force: true });
    await this.saveRegistry();
  }

  append(name: string, messages: AcceptedMessage[], receivedAt: Date): Promise<void> {
    const channel = this.require(name);
    const iso = receivedAt.toISOString();
    const lines = messages
      .map((m) => JSON.stringify({ messageId: m.messageId, payload: m.payload, receivedAt: iso }) + '\n')
      .join('');
    const previous = this.appendQueues.get(name) ?? Promise.resolve();
    const next = previous.then(() => appendFile(this.messagesPath(name), lines));
    this.appendQueues.set(
      name,
      next.catch(() => undefined),
    );
    return next.then(() => {
      channel.lastMessageArrivalTimeMs = receivedAt.getTime();
    });
  }

  async readRaw(name: string): Promise<string> {
    this.require(name);
    await (this.appendQueues.get(name) ?? Promise.resolve());
    try {
      return await readFile(this.messagesPath(name), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
      throw err;
    }
  }

  async readMessages(name: string): Promise<StoredMessage[]> {
    const raw = await this.readRaw(name);
    return raw
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as StoredMessage);
  }

  async sizeBytes(name: string): Promise<number> {
    return stat(this.messagesPath(name)).then(
      (s) => s.size,
      () => 0,
    );
  }

  /** Waits for pending appends. */
  async flush(): Promise<void> {
    await Promise.all(this.appendQueues.values());
  }

  // Saves are serialised (they share one temp file) and each writes the registry as it is then.
  private saveRegistry(): Promise<void> {
    const run = this.registrySave.then(async () => {
      await writeFileAtomic(this.registryPath(), JSON.stringify(this.list(), null, 2) + '\n');
    });
    this.registrySave = run.catch(() => undefined);
    return run;
  }
}

export const ACCOUNT_ID = '000000000000';
export const REGION = 'us-east-1';

export function channelArn(name: string): string {
  return `arn:aws:iotanalytics:${REGION}:${ACCOUNT_ID}:channel/${name}`;
}
