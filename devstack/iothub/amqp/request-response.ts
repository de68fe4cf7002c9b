/**
 * The request/response pattern of `$cbs` and `$management` (PROTOCOLS.md §2.2–§2.3): a request arrives
 * on the node's receiver link; its answer goes out on the server sender attached to the client's reply
 * link (`reply_to` names it), correlated by the request's `message_id`, with `status-code` and
 * `status-description` (and `error-condition` for a refusal) as application properties.
 */
import rhea from 'rhea';
import type { Logger } from 'pino';
import type { Status } from './errors.js';

export function reply(
  connection: rhea.Connection,
  request: rhea.Message,
  status: Status,
  logger: Logger,
  body?: unknown,
): void {
  const replyTo = request.reply_to;
  const link = connection.find_sender(
    (sender: rhea.Sender) =>
      sender.name === replyTo || (sender.target as { address?: string } | undefined)?.address === replyTo,
  );
  if (!link) {
    logger.warn({ replyTo }, 'no reply link for a request; dropped the response');
    return;
  }
  const properties: Record<string, unknown> = {
    'status-code': rhea.types.wrap_int(status.code),
    'status-description': status.description,
  };
  if (status.condition) properties['error-condition'] = status.condition;
  link.send({
    correlation_id: request.message_id,
    to: replyTo,
    application_properties: properties,
    body,
  } as rhea.Message);
}

export function requestProperties(request: rhea.Message): Record<string, unknown> {
  return (request.application_properties ?? {}) as Record<string, unknown>;
}
