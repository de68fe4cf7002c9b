/**
 * The HTTP edge of the IoT Analytics emulator: request bodies in (bounded), replies out with the
 * restJson1 error headers. No operation logic.
 */
import type http from 'node:http';
import { AwsError, invalidRequest } from './errors.js';
import type { AwsErrorName } from './errors.js';

// 100 messages × 128 KB, base64-inflated, plus JSON framing; anything bigger is not a valid call.
const MAX_BODY_BYTES = 20 * 1024 * 1024;

export interface Reply {
  readonly status: number;
  readonly body?: unknown;
  readonly contentType?: string;
  readonly errorType?: AwsErrorName;
}

export async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > MAX_BODY_BYTES) throw invalidRequest(`Request body over ${MAX_BODY_BYTES} bytes.`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** An empty body is `{}`; anything but JSON is InvalidRequestException. */
export async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const text = await readBody(req);
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw invalidRequest('The request body is not valid JSON.');
  }
}

export function send(res: http.ServerResponse, reply: Reply, requestId: string): void {
  const headers: http.OutgoingHttpHeaders = { 'x-amzn-requestid': requestId };
  if (reply.errorType) headers['x-amzn-errortype'] = reply.errorType;
  if (reply.status === 204 || reply.body === undefined) {
    res.writeHead(reply.status, headers).end();
    return;
  }
  const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
  headers['content-type'] = reply.contentType ?? 'application/json';
  headers['content-length'] = Buffer.byteLength(text);
  res.writeHead(reply.status, headers).end(text);
}

/** An AwsError as the SDK expects it; anything else is an InternalFailureException. */
export function errorReply(err: unknown): Reply {
  const aws =
    err instanceof AwsError
      ? err
      : new AwsError('InternalFailureException', `Emulator failure: ${(err as Error)?.message ?? String(err)}`);
  return { status: aws.statusCode, errorType: aws.errorType, body: aws.body() };
}
