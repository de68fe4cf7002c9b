/**
 * Each client's share of the module: how many channels it may have messages queued in, and how many
 * payload bytes (memory) and record bytes (disk) its queued messages may hold, so one client cannot take
 * all IotAnalyticsMaxActiveChannels, the MemorySize budget or the persistence quota from the others.
 *
 * A message reserves its share before it is offered and gives it back with its final status (its ticket
 * travels in the ingest item's `origin`). Pure bookkeeping: no I/O, the budgets are read when asked.
 */

export interface ShareBudgets {
  readonly maxChannels: number;
  /** Bytes of payload one client may hold (MQTT_CLIENT_MEMORY_PERCENT of MemorySize). */
  readonly memoryBytes: number;
  /** Bytes of persistence records one client may hold, or undefined without persistence. */
  readonly diskBytes: number | undefined;
}

/** The share one queued message holds; handed back in `release`. */
export class ShareTicket {
  constructor(
    readonly clientId: string,
    readonly channel: string,
    readonly bytes: number,
    readonly diskBytes: number,
  ) {}
}

export type ShareRefusal =
  | { readonly rule: 'client_channels'; readonly code: 'TooManyChannelsException'; readonly message: string }
  | { readonly rule: 'client_memory'; readonly code: 'MemoryLimitExceededException'; readonly message: string }
  | { readonly rule: 'client_disk'; readonly code: 'StorageFullException'; readonly message: string };

interface Holding {
  bytes: number;
  diskBytes: number;
  readonly channels: Map<string, number>;
}

/** What a persistence record costs on top of its payload: frame header, record header, id, channel. */
export function recordBytes(payloadBytes: number, channel: string, id: string | undefined, clientId: string): number {
  return payloadBytes + 24 + 96 + channel.length + (id?.length ?? 0) + clientId.length;
}

export class ClientShares {
  private readonly holdings = new Map<string, Holding>();

  constructor(private readonly budgets: () => ShareBudgets) {}

  /** Reserve room for one message, or say which share it would exceed. */
  reserve(clientId: string, channel: string, bytes: number, diskBytes: number): ShareTicket | ShareRefusal {
    const budget = this.budgets();
    const held = this.holdings.get(clientId);
    if (held && !held.channels.has(channel) && held.channels.size >= budget.maxChannels) {
      return {
        rule: 'client_channels',
        code: 'TooManyChannelsException',
        message: `client '${clientId}' already has messages queued in ${held.channels.size} channels, its share (MQTT_CLIENT_MAX_CHANNELS=${budget.maxChannels})`,
      };
    }
    if ((held?.bytes ?? 0) + bytes > budget.memoryBytes) {
      return {
        rule: 'client_memory',
        code: 'MemoryLimitExceededException',
        message: `client '${clientId}' holds ${held?.bytes ?? 0} bytes of queued messages; ${bytes} more would exceed its share of MemorySize (${budget.memoryBytes} bytes, MQTT_CLIENT_MEMORY_PERCENT)`,
      };
    }
    if (budget.diskBytes !== undefined && (held?.diskBytes ?? 0) + diskBytes > budget.diskBytes) {
      return {
        rule: 'client_disk',
        code: 'StorageFullException',
        message: `client '${clientId}' holds ${held?.diskBytes ?? 0} bytes on disk; ${diskBytes} more would exceed its share of PERSISTENCE_MAX_BYTES (${budget.diskBytes} bytes, MQTT_CLIENT_DISK_PERCENT)`,
      };
    }
    const holding = held ?? { bytes: 0, diskBytes: 0, channels: new Map<string, number>() };
    if (!held) this.holdings.set(clientId, holding);
    holding.bytes += bytes;
    holding.diskBytes += budget.diskBytes !== undefined ? diskBytes : 0;
    holding.channels.set(channel, (holding.channels.get(channel) ?? 0) + 1);
    return new ShareTicket(clientId, channel, bytes, budget.diskBytes !== undefined ? diskBytes : 0);
  }

  release(ticket: ShareTicket): void {
    const holding = this.holdings.get(ticket.clientId);
    if (!holding) return;
    holding.bytes -= ticket.bytes;
    holding.diskBytes -= ticket.diskBytes;
    const left = (holding.channels.get(ticket.channel) ?? 1) - 1;
    if (left > 0) holding.channels.set(ticket.channel, left);
    else holding.channels.delete(ticket.channel);
    if (holding.channels.size === 0) this.holdings.delete(ticket.clientId);
  }

  /** What one client holds now (tests, metrics). */
  held(clientId: string): { bytes: number; diskBytes: number; channels: number } {
    const h = this.holdings.get(clientId);
    return { bytes: h?.bytes ?? 0, diskBytes: h?.diskBytes ?? 0, channels: h?.channels.size ?? 0 };
  }
}
