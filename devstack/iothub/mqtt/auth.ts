/**
 * Who may connect (PROTOCOLS.md §1.2–1.3): parse the CONNECT username, check it names the clientId, and
 * verify the SAS token in the password against the identity's key. Pure: the registry lookup and the
 * clock are passed in; the broker turns a refusal into CONNACK 5.
 */
import { identityResource, parseSasToken, verifySasToken } from '../sas.js';
import type { SasRefusal } from '../sas.js';
import type { HubIdentity } from './topics.js';

export interface ParsedUsername {
  /** `HostName` from the client's connection string, port included (`localhost:8883`). */
  readonly hostName: string;
  readonly deviceId: string;
  readonly moduleId?: string;
}

/** `<HostName>/<deviceId>[/<moduleId>]/?api-version=…`; the query is not checked. */
export function parseUsername(username: string): ParsedUsername | undefined {
  const slash = username.indexOf('/');
  if (slash <= 0) return undefined;
  const hostName = username.slice(0, slash);
  const query = username.indexOf('?', slash);
  let ids = username.slice(slash + 1, query < 0 ? undefined : query);
  if (ids.endsWith('/')) ids = ids.slice(0, -1);
  const parts = ids.split('/');
  if (parts.length > 2 || parts.some((p) => p.length === 0)) return undefined;
  const [deviceId = '', moduleId] = parts;
  return moduleId === undefined ? { hostName, deviceId } : { hostName, deviceId, moduleId };
}

export type AuthRefusal = 'no-credentials' | 'bad-username' | 'username-mismatch' | 'unknown-identity' | SasRefusal;

export type AuthVerdict =
  | {
      readonly ok: true;
      readonly identity: HubIdentity;
      readonly hostName: string;
      /** When the token expires; the hub closes the connection then. */
      readonly expiresAtMs: number;
    }
  | { readonly ok: false; readonly reason: AuthRefusal };

export interface AuthRequest {
  readonly clientId: string;
  readonly username: string | undefined;
  readonly password: Buffer | undefined;
  /** The identity's base64 key, or undefined when the registry has no such device/module. */
  readonly keyFor: (deviceId: string, moduleId: string | undefined) => string | undefined;
  readonly nowMs: number;
}

export function authenticateConnect(request: AuthRequest): AuthVerdict {
  if (request.username === undefined || request.password === undefined) return { ok: false, reason: 'no-credentials' };
  const user = parseUsername(request.username);
  if (!user) return { ok: false, reason: 'bad-username' };
  const userClientId = user.moduleId === undefined ? user.deviceId : `${user.deviceId}/${user.moduleId}`;
  // A username for another device than the clientId would let one identity speak for another.
  if (userClientId !== request.clientId) return { ok: false, reason: 'username-mismatch' };
  const key = request.keyFor(user.deviceId, user.moduleId);
  if (key === undefined) return { ok: false, reason: 'unknown-identity' };
  const token = request.password.toString('utf8');
  const verdict = verifySasToken({
    token,
    keyBase64: key,
    expectedResource: identityResource(user.hostName, user.deviceId, user.moduleId),
    nowMs: request.nowMs,
  });
  if (!verdict.ok) return verdict;
  const identity: HubIdentity =
    user.moduleId === undefined ? { deviceId: user.deviceId } : { deviceId: user.deviceId, moduleId: user.moduleId };
  const expiresAtMs = (parseSasToken(token)?.expirySeconds ?? 0) * 1000;
  return { ok: true, identity, hostName: user.hostName, expiresAtMs };
}
