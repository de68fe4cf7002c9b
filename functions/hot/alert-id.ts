/**
 * Alert ids and state-document ids: deterministic, valid Cosmos ids. Pure. The escaping and hashing are
 * the record's (`cosmosSafe`, `hashedPart` in @iot-ingest/contracts), so every id the app writes follows
 * one rule.
 *
 * `{rule}:{deviceId}:{start}`, where `start` names the episode: the record id of the reading that raised a
 * threshold, a window's start (ISO), or `silent-since-{ISO of the last reading}` for a stale device. The same
 * stream always yields the same ids, so a redelivery or a second host writes the same document.
 */
import { MAX_COSMOS_ID_LENGTH, cosmosSafe, hashedPart } from '@iot-ingest/contracts';

export function alertId(ruleId: string, deviceId: string, start: string): string {
  const spelled = `${ruleId}:${cosmosSafe(deviceId)}:${cosmosSafe(start)}`;
  return spelled.length <= MAX_COSMOS_ID_LENGTH ? spelled : `${ruleId}:${hashedPart(`${deviceId}\n${start}`)}`;
}

/** The id of a device's hot-path state document (partition key: the deviceId). */
export function stateDocumentId(deviceId: string): string {
  const spelled = `hot-state:${cosmosSafe(deviceId)}`;
  return spelled.length <= MAX_COSMOS_ID_LENGTH ? spelled : `hot-state:${hashedPart(deviceId)}`;
}
