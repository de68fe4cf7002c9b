/**
 * The AMQP transport of the Event Hubs endpoint, apart from its behaviour: the rhea container, the SASL
 * layer, and the listening sockets. Nothing here knows about hubs, tokens or links.
 *
 * SASL ANONYMOUS, PLAIN, EXTERNAL and MSSBCBS (what .NET clients offer) and no SASL at all are accepted:
 * authentication is the `$cbs` put-token (cbs.ts), as on the service.
 */
import { createRequire } from 'node:module';
import type { AddressInfo, Server, Socket } from 'node:net';
import rhea from 'rhea';

const MAX_FRAME_SIZE = 65_536;
const CHANNEL_MAX = 4999;
const HANDLE_MAX = 4_294_967_295;

export interface ListenOptions {
  readonly host: string;
  /** AMQPS: TLS with this key and certificate (PEM). Absent: plain TCP. */
  readonly tls?: { readonly key: string; readonly cert: string };
  /** 0 picks a free port. */
  readonly port: number;
  readonly containerId: string;
  /** Announced AMQP idle timeout; the client heartbeats at half of it. */
  readonly idleTimeoutMs: number;
  /** Announced on every link the server attaches as a receiver (a producer's `max_message_size`). */
  readonly maxMessageBytes: number;
}

export interface AmqpListener {
  readonly port: number;
  /** Stops accepting; sockets still open after `graceMs` are destroyed. */
  close(graceMs: number): Promise<void>;
}

/** Mechanisms that carry no credentials worth checking here: the token comes later, over CBS. */
function acceptAnything(): { outcome: boolean | undefined; username: string | undefined; start(): void } {
  return {
    outcome: undefined,
    username: undefined,
    start() {
      this.outcome = true;
    },
  };
}

type LocalFields<K extends string> = { local?: Partial<Record<K, Record<string, unknown>>> };

type FrameFactory = ((fields: Record<string, unknown>) => unknown) & { writesInFull?: true };

/** rhea's frame factories: the one object its sessions build every frame with. */
const rheaFrames = createRequire(import.meta.url)('rhea/lib/frames.js') as { transfer: FrameFactory };

/**
 * Frames with the fields Event Hubs writes. rhea leaves out trailing fields that hold their AMQP
 * default, as AMQP 1.0 §1.4 allows; the pure-Python client of azure-eventhub 5.11 (`_pyamqp`, fixed
 * upstream in Azure/azure-sdk-for-python#47660) reads fields by position and fails without them:
 * `max_frame_size` in open (set in listenAmqp), `handle_max` in begin, `max_message_size` and
 * `properties` in attach, and every transfer field up to `batchable` (it takes the payload to start
 * after the 11th). The values written are the defaults, so rhea-based and .NET clients see no change.
 * The answering begin and attach are written on the next tick, after these events. The transfer
 * factory is rhea's, shared by the process: patched once.
 */
function writeFramesInFull(container: rhea.Container, maxMessageBytes: number): void {
  const transfer = rheaFrames.transfer;
  if (!transfer.writesInFull) {
    const full: FrameFactory = (fields) => {
      if (fields.batchable === undefined) fields.batchable = false;
      return transfer(fields);
    };
    full.writesInFull = true;
    rheaFrames.transfer = full;
  }
  container.on('session_open', (context: rhea.EventContext) => {
    const begin = (context.session as unknown as LocalFields<'begin'>).local?.begin;
    if (begin && begin.handle_max === undefined) begin.handle_max = HANDLE_MAX;
  });
  const fillAttach = (link: unknown): void => {
    const attach = (link as LocalFields<'attach'>).local?.attach;
    if (!attach) return;
    if (attach.max_message_size === undefined) attach.max_message_size = maxMessageBytes;
    if (attach.properties === undefined) attach.properties = {};
  };
  container.on('sender_open', (context: rhea.EventContext) => fillAttach(context.sender));
  container.on('receiver_open', (context: rhea.EventContext) => fillAttach(context.receiver));
}

/** `maxMessageBytes`: the largest message a link accepts, announced in every attach. */
export function createAmqpContainer(id: string, maxMessageBytes: number): rhea.Container {
  const container = rhea.create_container({ id });
  const mechanisms = container.sasl_server_mechanisms as Record<string, unknown> & {
    enable_anonymous(): void;
    enable_plain(callback: () => boolean): void;
  };
  mechanisms.enable_anonymous();
  mechanisms.enable_plain(() => true);
  mechanisms.EXTERNAL = acceptAnything;
  mechanisms.MSSBCBS = acceptAnything;
  writeFramesInFull(container, maxMessageBytes);
  return container;
}

/**
 * rhea writes every AMQP frame with its own `socket.write`, one syscall each; corking the socket for
 * the rest of the tick turns a burst of deliveries into one writev.
 */
function coalesceWrites(socket: Socket): void {
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  let corked = false;
  socket.write = ((...args: unknown[]): boolean => {
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(() => {
        corked = false;
        socket.uncork();
      });
    }
    return write(...args);
  }) as typeof socket.write;
}

/** Listens with plain TCP, or TLS when `tls` is given; resolves once the port is bound. */
export async function listenAmqp(
  container: rhea.Container,
  options: ListenOptions,
  onListenerError: (error: Error) => void,
  onTlsClientError: (error: Error) => void = () => undefined,
): Promise<AmqpListener> {
  const server: Server = container.listen({
    ...(options.tls ? { transport: 'tls', key: options.tls.key, cert: options.tls.cert } : {}),
    host: options.host,
    port: options.port,
    idle_time_out: options.idleTimeoutMs,
    // What Event Hubs announces in its open. AMQP lets both default when absent, but the pure-Python
    // client (writeFramesInFull) compares the peer's max_frame_size with 512 and fails when it is missing.
    max_frame_size: MAX_FRAME_SIZE,
    channel_max: CHANNEL_MAX,
    tcp_no_delay: true,
    container_id: options.containerId,
    // Events go out pre-settled, as Event Hubs sends them (no per-event settlement exists): the client's
    // auto-accept then sends no disposition back, which halves the frames per event.
    sender_options: { autosettle: true, snd_settle_mode: 1 },
    receiver_options: { autoaccept: false, credit_window: 500, max_message_size: options.maxMessageBytes },
  } as unknown as Parameters<typeof container.listen>[0]) as Server;
  // Every TCP connection, handshaken or not, so close() can end them all.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // Coalesce on the socket rhea writes to: the TCP socket, or the TLS socket (then one TLS record per burst).
  if (options.tls) {
    server.on('secureConnection', (socket: Socket) => coalesceWrites(socket));
    server.on('tlsClientError', (error: Error) => onTlsClientError(error));
  } else {
    server.on('connection', (socket: Socket) => coalesceWrites(socket));
  }
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => {
      reject(new Error(`Event Hubs endpoint could not listen on ${options.host}:${options.port}: ${error.message}`));
    };
    server.once('error', onError);
    server.once('listening', () => {
      server.off('error', onError);
      server.on('error', onListenerError);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    async close(graceMs: number): Promise<void> {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const grace = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, graceMs);
      await closed;
      clearTimeout(grace);
    },
  };
}
