/**
 * The devstack's own certificate authority: generated on first start into `.devstack/certs/` and reused.
 *
 * One CA signs a server certificate with SAN `DNS:localhost, IP:127.0.0.1, IP:::1`, used by every local
 * TLS server (IoT Hub MQTT, the Cosmos DB server, the edge module's optional TLS listener). Clients trust
 * the CA file (`caCertPath`) for that one client; TLS verification is never turned off.
 */
import { generate } from 'selfsigned';
import { mkdir, readFile } from 'node:fs/promises';
import { writeFileAtomic } from '@iot-ingest/contracts';
import { X509Certificate } from 'node:crypto';
import path from 'node:path';

export interface DevstackCertificates {
  readonly caCertPath: string;
  readonly caCert: string;
  readonly serverCertPath: string;
  readonly serverCert: string;
  readonly serverKeyPath: string;
  readonly serverKey: string;
}

const VALIDITY_DAYS = 825;

async function tryLoad(dir: string): Promise<DevstackCertificates | undefined> {
  const caCertPath = path.join(dir, 'ca.pem');
  const serverCertPath = path.join(dir, 'server.pem');
  const serverKeyPath = path.join(dir, 'server-key.pem');
  try {
    const [caCert, serverCert, serverKey] = await Promise.all([
      readFile(caCertPath, 'utf8'),
      readFile(serverCertPath, 'utf8'),
      readFile(serverKeyPath, 'utf8'),
    ]);
    // Regenerate when the server certificate is close to expiry.
    const validTo = new Date(new X509Certificate(serverCert).validTo).getTime();
    if (validTo - Date.now() < 7 * 24 * 3600 * 1000) return undefined;
    return { caCertPath, caCert, serverCertPath, serverCert, serverKeyPath, serverKey };
  } catch {
    return undefined;
  }
}

// One generation per directory per process, even when several components start at once.
const pending = new Map<string, Promise<DevstackCertificates>>();

/** Load the devstack CA and server certificate from `<devstackDir>/certs`, generating them when missing. */
export function ensureDevstackCertificates(devstackDir: string): Promise<DevstackCertificates> {
  const dir = path.resolve(devstackDir, 'certs');
  let result = pending.get(dir);
  if (!result) {
    result = loadOrGenerate(dir);
    pending.set(dir, result);
    result.catch(() => pending.delete(dir));
  }
  return result;
}

async function loadOrGenerate(dir: string): Promise<DevstackCertificates> {
  const existing = await tryLoad(dir);
  if (existing) return existing;
  await mkdir(dir, { recursive: true });
  const notBeforeDate = new Date(Date.now() - 60_000);
  const notAfterDate = new Date(Date.now() + VALIDITY_DAYS * 24 * 3600 * 1000);
  const ca = await generate([{ name: 'commonName', value: 'iot-ingest devstack CA' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const server = await generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  const caCertPath = path.join(dir, 'ca.pem');
  const serverCertPath = path.join(dir, 'server.pem');
  const serverKeyPath = path.join(dir, 'server-key.pem');
  await writeFileAtomic(serverKeyPath, server.private, { mode: 0o600 });
  await writeFileAtomic(serverCertPath, server.cert, { mode: 0o644 });
  await writeFileAtomic(caCertPath, ca.cert, { mode: 0o644 });
  // The CA key is not kept: nothing else is ever signed with it.
  return {
    caCertPath,
    caCert: ca.cert,
    serverCertPath,
    serverCert: server.cert,
    serverKeyPath,
    serverKey: server.private,
  };
}
