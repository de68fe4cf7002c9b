/**
 * CONNECT (PROTOCOLS.md §1.2–§1.5) and the connection's life after it.
 *
 * - Every CONNECT is authenticated against the live registry; a refusal is CONNACK 5 (not authorized),
 *   an unreadable registry CONNACK 3 (server unavailable). A new CONNECT for a connected clientId
 *   replaces the old connection (aedes takeover).
 * - A connection ends when its SAS token expires, as on the hub (the SDK reconnects with a new one before).
 */
import type { AuthenticateError, Client } from 'aedes';
import { findIdentity } from '@iot-ingest/contracts';
import { twinKey } from '../../twins.js';
import { authenticateConnect } from '../auth.js';
import type { AuthVerdict } from '../auth.js';
import type { BrokerContext } from '../context.js';
import { increment } from '../context.js';
import { connectionAnnotations } from '../telemetry.js';

/** setTimeout takes at most 2^31-1 ms; longer tokens are re-armed when the timer fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function refusal(returnCode: 3 | 5, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

/** aedes' `authenticate`: on success the client gets its session. */
export function handleConnect(
  context: BrokerContext,
  client: Client,
  username: string | undefined,
  password: Buffer | undefined,
  done: (error: AuthenticateError | null, success: boolean | null) => void,
): void {
  const { registry, log, logger, counters } = context;
  let verdict: AuthVerdict;
  try {
    verdict = authenticateConnect({
      clientId: client.id,
      username,
      password,
      keyFor: (deviceId, moduleId) => registry.keyFor(deviceId, moduleId),
      nowMs: context.nowMs(),
    });
  } catch (err) {
    increment(counters.connectsRefused, 'registry-unreadable');
    logger.error({ clientId: client.id, err: (err as Error).message }, 'registry unreadable; CONNACK 3');
    done(refusal(3, 'registry unreadable'), null);
    return;
  }
  if (!verdict.ok) {
    increment(counters.connectsRefused, verdict.reason);
    logger.info({ clientId: client.id, reason: verdict.reason }, 'connect refused (CONNACK 5)');
    done(refusal(5, `not authorized: ${verdict.reason}`), null);
    return;
  }
  const { deviceId, moduleId } = verdict.identity;
  const generationId = findIdentity(registry.current(), deviceId, moduleId)?.generationId ?? '';
  context.sessions.set(client, {
    inflight: 0,
    expiresAtMs: verdict.expiresAtMs,
    identity: verdict.identity,
    generationId,
    twinKey: twinKey(deviceId, moduleId),
    partition: log.partitionFor(deviceId),
    annotations: connectionAnnotations(moduleId, generationId),
  });
  counters.connectsAccepted++;
  done(null, true);
}

/** aedes' `clientReady`: the connection is live; close it when its token expires. */
export function handleClientReady(context: BrokerContext, client: Client): void {
  const { logger, counters } = context;
  context.live.set(client.id, client);
  logger.info({ clientId: client.id }, 'client connected');
  const session = context.sessions.get(client);
  if (!session) return;
  const arm = (): void => {
    if (client.closed) return;
    const remainingMs = session.expiresAtMs - context.nowMs();
    if (remainingMs <= 0) {
      counters.connectionsExpired++;
      logger.info({ clientId: client.id }, 'SAS token expired; closing the connection');
      client.close();
      return;
    }
    session.expiryTimer = setTimeout(arm, Math.min(remainingMs, MAX_TIMER_MS));
    session.expiryTimer.unref();
  };
  arm();
}

/** aedes' `clientDisconnect`. */
export function handleClientDisconnect(context: BrokerContext, client: Client): void {
  const session = context.sessions.get(client);
  if (session?.expiryTimer) clearTimeout(session.expiryTimer);
  if (context.live.get(client.id) === client) context.live.delete(client.id);
  context.logger.info({ clientId: client.id }, 'client disconnected');
}
