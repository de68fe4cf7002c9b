/**
 * Claims-based security, the `$cbs` node (PROTOCOLS.md §2.2): a client puts a SAS token for an audience;
 * a valid, unexpired token signed with the hub's policy key becomes a grant on that connection for the
 * audience's entity path and everything below it. Entity links attach only under a grant
 * (`requireGrant`), and lose it when it expires (the endpoint's token check).
 */
import type rhea from 'rhea';
import type { Logger } from 'pino';
import { parseSasToken, verifySasToken } from '../sas.js';
import type { SasRefusal } from '../sas.js';
import { audienceCovers, audiencePath } from './addresses.js';
import { AmqpConditionError, Condition, entityNotFound, statusFor } from './errors.js';
import { reply, requestProperties } from './request-response.js';
import type { Request } from './request-response.js';

export interface ServicePolicy {
  readonly name: string;
  /** Used as UTF-8 bytes for the HMAC, like the service (not base64-decoded). */
  readonly key: string;
}

const TOKEN_TYPES = new Set(['servicebus.windows.net:sastoken', 'jwt']);

const isSasToken = (token: unknown): boolean => typeof token === 'string' && token.startsWith('SharedAccessSignature ');

const REFUSALS: Record<SasRefusal, string> = {
  'malformed-token': 'the token is not a well-formed SharedAccessSignature',
  'bad-signature': 'the token signature does not match',
  'expired-token': 'the token has expired',
  'wrong-resource': 'the token is for another resource',
  'policy-token': 'the token is a policy token',
  'unknown-key-name': 'the token names an unknown key (skn)',
};

/**
 * Verifies a policy token whose audience must cover `entityPath` ('' = any); returns its expiry.
 * Throws `amqp:unauthorized-access` (InvalidAudience / InvalidSignature) otherwise.
 */
export function verifyServiceToken(
  token: unknown,
  policy: ServicePolicy,
  entityPath: string,
  nowMs: number,
  shownAs = entityPath,
): number {
  const verdict = verifySasToken({
    token,
    policyKeyName: policy.name,
    policyKey: policy.key,
    expectedResource: (audience) => audienceCovers(audiencePath(audience), entityPath),
    nowMs,
  });
  if (verdict.ok) return (parseSasToken(token as string)?.expirySeconds ?? 0) * 1000;
  if (verdict.reason === 'wrong-resource') {
    throw new AmqpConditionError(
      Condition.unauthorized,
      `InvalidAudience: the token does not grant access to '${shownAs}'.`,
    );
  }
  throw new AmqpConditionError(Condition.unauthorized, `InvalidSignature: ${REFUSALS[verdict.reason]}.`);
}

export class Cbs {
  /** Per connection: lower-case entity path → token expiry (epoch ms). Gone with the connection. */
  private readonly grants = new WeakMap<rhea.Connection, Map<string, number>>();

  constructor(
    private readonly hubPath: string,
    private readonly policy: ServicePolicy,
    private readonly logger: Logger,
  ) {}

  /** A put-token request: answered 202 with a new grant, or with the refusal's status. */
  onRequest(request: Request, connectionId: number): void {
    const properties = requestProperties(request);
    try {
      if (properties.operation !== 'put-token') {
        throw new AmqpConditionError(
          Condition.notImplemented,
          `The $cbs operation '${String(properties.operation)}' is not supported.`,
        );
      }
      // The service goes by the token itself: the pure-Python client puts SAS tokens as type 'jwt'.
      if (!TOKEN_TYPES.has(String(properties.type)) || !isSasToken(request.message.body)) {
        throw new AmqpConditionError(
          Condition.unauthorized,
          `Only SharedAccessSignature tokens are accepted (Microsoft Entra ID tokens are not emulated); got a '${String(properties.type)}' token.`,
        );
      }
      const name = typeof properties.name === 'string' ? properties.name : '';
      const namePath = audiencePath(name);
      const expiresAtMs = verifyServiceToken(request.message.body, this.policy, namePath, Date.now(), name);
      if (namePath.split('/')[0] !== this.hubPath) throw entityNotFound(name);
      this.grantsOf(request.connection).set(namePath, expiresAtMs);
      this.logger.debug({ connection: connectionId, entity: namePath }, 'token accepted');
      reply(request, { code: 202, description: 'Accepted' }, this.logger);
    } catch (error) {
      const status = statusFor(error);
      this.logger.info({ connection: connectionId, status: status.code, reason: status.description }, 'token refused');
      reply(request, status, this.logger);
    }
  }

  /** Whether an unexpired grant on the connection covers `entityPath`. */
  covers(connection: rhea.Connection, entityPath: string, nowMs: number): boolean {
    for (const [path, expiresAtMs] of this.grants.get(connection) ?? []) {
      if (expiresAtMs > nowMs && audienceCovers(path, entityPath)) return true;
    }
    return false;
  }

  requireGrant(connection: rhea.Connection, entityPath: string): void {
    if (this.covers(connection, entityPath, Date.now())) return;
    throw new AmqpConditionError(
      Condition.unauthorized,
      `Unauthorized access to '${entityPath}': put a valid SAS token for it on $cbs first.`,
    );
  }

  /** A closed connection keeps no grants: a straggling event after it authorises nothing. */
  forget(connection: rhea.Connection): void {
    this.grants.delete(connection);
  }

  private grantsOf(connection: rhea.Connection): Map<string, number> {
    let grants = this.grants.get(connection);
    if (!grants) {
      grants = new Map();
      this.grants.set(connection, grants);
    }
    return grants;
  }
}
