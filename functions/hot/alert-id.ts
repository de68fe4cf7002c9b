/**
 * Alert ids and state-document ids: deterministic, valid Cosmos ids. Pure.
 *
 * `{rule}:{deviceId}:{start}`, where `start` names the episode: the record id of the reading that raised a
 * threshold, a window's start (ISO), or `silent-since-{ISO of the last reading}` for a stale device. The same
 * stream always yields the same ids, so a redelivery or a second host writes the same document.
 */
import { createHash } from 'node:crypto';

/** Cosmos DB's id limit. */
const MAX_COSMOS_ID_LENGTH = 255;
/** Characters a Cosmos id cannot hold (`/ \ ? #`), and `%` so the escaping stays reversible. */
const COSMOS_UNSAFE = /[%/\\?#]/g;

function cosmosSafe(s: string): string {
  return s.replace(COSMOS_UNSAFE, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

function hashedPart(s: string): string {
  return `~${createHash('sha256').update(s, 'utf8').digest('base64url').slice(0, 22)}`;
}

export function alertId(ruleId: string, deviceId: string, start: string): string {
  const spelled = `${ruleId}:${cosmosSafe(deviceId)}:${cosmosSafe(start)}`;
  return spelled.length <= MAX_COSMOS_ID_LENGTH ? spelled : `${ruleId}:${hashedPart(`${deviceId}\n${start}`)}`;
}

/** The id of a device's hot-path state document (partition key: the deviceId). */
export function stateDocumentId(deviceId: string): string {
  const spelled = `hot-state:${cosmosSafe(deviceId)}`;
  return spelled.length <= MAX_COSMOS_ID_LENGTH ? spelled : `hot-state:${hashedPart(deviceId)}`;
}
