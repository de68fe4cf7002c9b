/**
 * The request/response pattern of `$cbs` and `$management` (PROTOCOLS.md §2.2–§2.3): a request arrives
 * on the node's receiver link; its answer goes out on the server sender attached to the client's reply
 * link, correlated by the request's `message_id`, with `status-code` and `status-description` (and
 * `error-condition` for a refusal) as application properties.
 */
import rhea from 'rhea';
import type { Logger } from 'pino';
import type { Status } from './errors.js';

/** A request as it arrived: the message and the link it came on (the node's receiver). */
export interface Request {
  readonly connection: rhea.Connection;
  /** The server's receiver the request came on; its target is the node (`$cbs`, `$management`). */
  readonly link: rhea.Receiver;
  readonly message: rhea.Message;
}

function terminusAddress(terminus: unknown): unknown {
  return (terminus as { address?: unknown } | undefined)?.address;
}

/**
 * The link the answer goes on. rhea-based clients (the JS SDK) name their reply link in `reply_to`;
 * uAMQP clients (Python `azure-eventhub` with `uamqp_transport=True`, the C SDKs) send no `reply_to`
 * and read answers on the receiver they attached from the same node in the same session, matching them
 * by `correlation_id`, as the service pairs them.
 */
function replyLink(request: Request): rhea.Sender | undefined {
  const replyTo = request.message.reply_to;
  if (replyTo !== undefined && replyTo !== null) {
    return request.connection.find_sender(
      (sender: rhea.Sender) => sender.name === replyTo || terminusAddress(sender.target) === replyTo,
    );
  }
  const node = terminusAddress(request.link.target);
  return request.link.session.find_sender((sender: rhea.Sender) => terminusAddress(sender.source) === node);
}

/**
 * Answers a request. The answer waits for the next turn of the event loop, so the disposition that
 * settles the request is written first: rhea would otherwise put the answer's transfer ahead of it in
 * the same write, and uAMQP drops an answer to a request it has no settlement for yet ("Did not
 * receive send confirmation for pending operation").
 */
export function reply(request: Request, status: Status, logger: Logger, body?: unknown): void {
  setImmediate(() => {
    const link = replyLink(request);
    if (!link) {
      logger.warn({ replyTo: request.message.reply_to }, 'no reply link for a request; dropped the response');
      return;
    }
    const properties: Record<string, unknown> = {
      'status-code': rhea.types.wrap_int(status.code),
      'status-description': status.description,
    };
    if (status.condition) properties['error-condition'] = status.condition;
    link.send({
      correlation_id: request.message.message_id,
      ...(request.message.reply_to === undefined ? {} : { to: request.message.reply_to }),
      application_properties: properties,
      body,
    } as rhea.Message);
  });
}

export function requestProperties(request: Request): Record<string, unknown> {
  return (request.message.application_properties ?? {}) as Record<string, unknown>;
}
