/**
 * Twin requests on `$iothub/twin/…` (PROTOCOLS.md §1.8): GET returns the whole twin with status 200;
 * a reported PATCH merges and answers 204 with the new `$version` and an EMPTY body. Errors answer with
 * a JSON body holding `errorCode` (the SDK ignores the status and looks only at the body).
 */
import type { TwinProperties, TwinStore } from '../twins.js';
import { twinDocument } from '../twins.js';
import { twinResponseTopic } from './topics.js';

export interface TwinReply {
  readonly topic: string;
  readonly payload: Buffer;
}

const EMPTY = Buffer.alloc(0);

function errorReply(requestId: string, status: number, errorCode: number, message: string): TwinReply {
  return { topic: twinResponseTopic(status, requestId), payload: Buffer.from(JSON.stringify({ errorCode, message })) };
}

export function twinGetReply(twins: TwinStore, key: string, generationId: string, requestId: string): TwinReply {
  const document = twinDocument(twins.get(key, generationId));
  return { topic: twinResponseTopic(200, requestId), payload: Buffer.from(JSON.stringify(document)) };
}

export async function twinReportedReply(
  twins: TwinStore,
  key: string,
  generationId: string,
  requestId: string,
  body: Buffer,
): Promise<TwinReply> {
  let patch: unknown;
  try {
    patch = JSON.parse(body.toString('utf8'));
  } catch {
    return errorReply(requestId, 400, 400004, 'reported properties patch is not valid JSON');
  }
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
    return errorReply(requestId, 400, 400004, 'reported properties patch must be a JSON object');
  }
  const record = await twins.patchReported(key, generationId, patch as TwinProperties);
  return { topic: twinResponseTopic(204, requestId, record.reportedVersion), payload: EMPTY };
}
