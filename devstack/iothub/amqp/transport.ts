/**
 * The AMQP transport of the Event Hubs endpoint, apart from its behaviour: the rhea container, the SASL
 * layer, and the listening sockets. Nothing here knows about hubs, tokens or links.
 *
 * SASL ANONYMOUS, PLAIN, EXTERNAL and MSSBCBS (what .NET clients offer) and no SASL at all are accepted:
 * authentication is the `$cbs` put-token (cbs.ts), as on the service.
 */
import type { AddressInfo, Server, Socket } from 'node:net';
import rhea from 'rhea';

export interface ListenOptions {
  readonly host: string;
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

export function createAmqpContainer(id: string): rhea.Container {
  const container = rhea.create_container({ id });
  const mechanisms = container.sasl_server_mechanisms as Record<string, unknown> & {
    enable_anonymous(): void;
    enable_plain(callback: () => boolean): void;
  };
  mechanisms.enable_anonymous();
  mechanisms.enable_plain(() => true);
  mechanisms.EXTERNAL = acceptAnything;
  mechanisms.MSSBCBS = acceptAnything;
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

/** Listens with plain TCP; resolves once the port is bound. */
export async function listenAmqp(
  container: rhea.Container,
  options: ListenOptions,
  onListenerError: (error: Error) => void,
): Promise<AmqpListener> {
  const server: Server = container.listen({
    host: options.host,
    port: options.port,
    idle_time_out: options.idleTimeoutMs,
    tcp_no_delay: true,
    container_id: options.containerId,
    // Events go out pre-settled, as Event Hubs sends them (no per-event settlement exists): the client's
    // auto-accept then sends no disposition back, which halves the frames per event.
    sender_options: { autosettle: true, snd_settle_mode: 1 },
    receiver_options: { autoaccept: false, credit_window: 500, max_message_size: options.maxMessageBytes },
  } as unknown as Parameters<typeof container.listen>[0]) as Server;
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    coalesceWrites(socket);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
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
