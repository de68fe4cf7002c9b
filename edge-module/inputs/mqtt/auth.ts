/**
 * Who a client is. With MQTT_TLS_CA_FILE a client presents an X.509 certificate signed by that CA and its
 * subject CN must equal the MQTT client id (as a Greengrass v1 device's thing name and client id are one);
 * with MQTT_CREDENTIALS_FILE it sends its own username and password, and the username must equal the
 * client id. Binding the identity to the client id is what keeps one device from taking over another's
 * session ([MQTT-3.1.4-2] closes the older connection with the same id) or reading its statuses.
 * Without either (loopback only, config.ts refuses it elsewhere) the identity is the client id.
 */
import { readFileSync } from 'node:fs';
import type { TLSSocket, TlsOptions } from 'node:tls';
import type { MqttConfig } from '../../config.js';
import { CredentialsFile } from './credentials.js';

export type AuthMethod = 'certificate' | 'password' | 'none';

export interface Identity {
  /** The device's id everywhere downstream; always equal to the MQTT client id. */
  readonly deviceId: string;
  readonly method: AuthMethod;
}

/** CONNACK return codes of MQTT 3.1.1 the authenticator answers with. */
export const IDENTIFIER_REJECTED = 2;
export const BAD_USERNAME_OR_PASSWORD = 4;
export const NOT_AUTHORIZED = 5;

export type AuthResult =
  | { readonly ok: true; readonly identity: Identity }
  | { readonly ok: false; readonly returnCode: 2 | 4 | 5; readonly rule: 'auth' | 'client_id'; readonly reason: string };

function readSetting(name: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new Error(`${name} '${file}': ${(err as Error).message}`, { cause: err });
  }
}

/** The TLS server options: TLS 1.2+, and with a client CA a certificate request. */
export function tlsServerOptions(config: MqttConfig): TlsOptions | undefined {
  if (!config.tls) return undefined;
  const { clientCaFile, credentialsFile } = config.auth;
  return {
    cert: readSetting('MQTT_TLS_CERT_FILE', config.tls.certFile),
    key: readSetting('MQTT_TLS_KEY_FILE', config.tls.keyFile),
    minVersion: 'TLSv1.2',
    handshakeTimeout: config.limits.connectTimeoutMs,
    ...(clientCaFile
      ? {
          ca: readSetting('MQTT_TLS_CA_FILE', clientCaFile),
          requestCert: true,
          // With passwords also allowed, a client without a certificate must get through the handshake;
          // the authenticator then refuses unverified certificates itself.
          rejectUnauthorized: credentialsFile === undefined,
        }
      : {}),
  };
}

/** No control characters: the id ends up in logs, records and Cosmos partition keys. */
function hasControlCharacters(id: string): boolean {
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

export class Authenticator {
  private constructor(
    private readonly config: MqttConfig,
    private readonly credentials: CredentialsFile | undefined,
  ) {}

  static async create(config: MqttConfig, onReloadError: (err: Error) => void): Promise<Authenticator> {
    const file = config.auth.credentialsFile;
    return new Authenticator(config, file ? await CredentialsFile.open(file, onReloadError) : undefined);
  }

  get method(): string {
    const { clientCaFile } = this.config.auth;
    if (clientCaFile && this.credentials) return 'client-certificate or password';
    if (clientCaFile) return 'client-certificate';
    return this.credentials ? 'password' : 'none';
  }

  async authenticate(clientId: string, socket: unknown, username: string | undefined, password: Buffer | undefined): Promise<AuthResult> {
    const max = this.config.limits.maxClientIdLength;
    if (clientId.length > max || clientId.length === 0 || hasControlCharacters(clientId)) {
      return {
        ok: false,
        returnCode: IDENTIFIER_REJECTED,
        rule: 'client_id',
        reason: clientId.length > max ? `client id is ${clientId.length} characters, over MQTT_MAX_CLIENT_ID_LENGTH=${max}` : 'client id contains control characters',
      };
    }
    const { clientCaFile } = this.config.auth;
    if (!clientCaFile && !this.credentials) return { ok: true, identity: { deviceId: clientId, method: 'none' } };

    const tlsSocket = socket as Partial<TLSSocket>;
    const peer = clientCaFile && typeof tlsSocket.getPeerCertificate === 'function' ? tlsSocket.getPeerCertificate() : undefined;
    const presented = peer !== undefined && Object.keys(peer).length > 0;
    if (presented) {
      if (!tlsSocket.authorized) {
        return { ok: false, returnCode: NOT_AUTHORIZED, rule: 'auth', reason: `client certificate not trusted: ${String(tlsSocket.authorizationError ?? 'unknown')} (MQTT_TLS_CA_FILE)` };
      }
      const cn = peer.subject?.CN;
      const subject = Array.isArray(cn) ? cn.join(',') : cn;
      if (subject !== clientId) {
        return { ok: false, returnCode: NOT_AUTHORIZED, rule: 'client_id', reason: `client certificate subject CN '${String(subject).slice(0, 128)}' is not the client id` };
      }
      return { ok: true, identity: { deviceId: clientId, method: 'certificate' } };
    }
    if (!this.credentials) {
      return { ok: false, returnCode: NOT_AUTHORIZED, rule: 'auth', reason: 'no client certificate (MQTT_TLS_CA_FILE requires one)' };
    }
    if (username === undefined || password === undefined) {
      return { ok: false, returnCode: BAD_USERNAME_OR_PASSWORD, rule: 'auth', reason: 'no username and password (MQTT_CREDENTIALS_FILE) and no client certificate' };
    }
    if (!(await this.credentials.verify(username, password))) {
      return { ok: false, returnCode: BAD_USERNAME_OR_PASSWORD, rule: 'auth', reason: `bad username or password for '${username.slice(0, 128)}'` };
    }
    if (username !== clientId) {
      return { ok: false, returnCode: NOT_AUTHORIZED, rule: 'client_id', reason: `username '${username.slice(0, 128)}' is not the client id` };
    }
    return { ok: true, identity: { deviceId: clientId, method: 'password' } };
  }
}
