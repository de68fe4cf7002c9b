/**
 * Tools of the hostile-client suite: a small PKI (a device CA, device certificates with a chosen CN, the
 * devstack server certificate), per-device credential lines in mosquitto_passwd's format, and a raw MQTT
 * client (mqtt-packet over a net/tls socket) for what a well-behaved library would never send.
 */
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import mqttPacket from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';
import { generate } from 'selfsigned';
import { ensureDevstackCertificates } from '../../../devstack/certs.js';
import type { DevstackCertificates } from '../../../devstack/certs.js';

export interface DevicePki {
  readonly dir: string;
  readonly server: DevstackCertificates;
  readonly deviceCaFile: string;
  /** A device certificate and key signed by the device CA, subject CN = `cn`. */
  device(cn: string): Promise<{ cert: string; key: string }>;
  /** A certificate signed by another CA (not trusted by the module). */
  stranger(cn: string): Promise<{ cert: string; key: string }>;
  close(): Promise<void>;
}

export async function createPki(): Promise<DevicePki> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'edge-hostile-'));
  const server = await ensureDevstackCertificates(dir);
  const caExtensions = [{ name: 'basicConstraints' as const, cA: true }];
  const deviceCa = await generate([{ name: 'commonName', value: 'iot-ingest test device CA' }], { keySize: 2048, extensions: caExtensions });
  const otherCa = await generate([{ name: 'commonName', value: 'some other CA' }], { keySize: 2048, extensions: caExtensions });
  const deviceCaFile = path.join(dir, 'device-ca.pem');
  await writeFile(deviceCaFile, deviceCa.cert);
  const issue = async (ca: { private: string; cert: string }, cn: string) => {
    const pair = await generate([{ name: 'commonName', value: cn }], { keySize: 2048, ca: { key: ca.private, cert: ca.cert } });
    return { cert: pair.cert, key: pair.private };
  };
  return {
    dir,
    server,
    deviceCaFile,
    device: (cn) => issue(deviceCa, cn),
    stranger: (cn) => issue(otherCa, cn),
    close: () => rm(dir, { recursive: true, force: true }),
  };
}

/** One line of a mosquitto_passwd file (PBKDF2-HMAC-SHA512, `$7$`). */
export function credentialLine(name: string, password: string, iterations = 101): string {
  const salt = randomBytes(12);
  const hash = pbkdf2Sync(password, salt, iterations, 64, 'sha512');
  return `${name}:$7$${iterations}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** A raw MQTT 3.1.1 client: sends exactly the packets given, collects what the server sends. */
export class RawClient {
  readonly packets: Packet[] = [];
  readonly closed: Promise<void>;
  private waiters: Array<() => void> = [];
  private isClosed = false;

  private constructor(readonly socket: net.Socket) {
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (packet: Packet) => {
      this.packets.push(packet);
      this.wake();
    });
    socket.on('data', (chunk: Buffer) => parser.parse(chunk));
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.isClosed = true;
        this.wake();
        resolve();
      }),
    );
  }

  static async connect(url: string, tlsOptions?: tls.ConnectionOptions): Promise<RawClient> {
    const { hostname, port, protocol } = new URL(url);
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s =
        protocol === 'mqtts:'
          ? tls.connect({ host: hostname, port: Number(port), servername: 'localhost', ...tlsOptions }, () => resolve(s))
          : net.connect(Number(port), hostname, () => resolve(s));
      s.once('error', reject);
    });
    return new RawClient(socket);
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  send(packet: Record<string, unknown>): void {
    this.socket.write(mqttPacket.generate(packet as unknown as Packet));
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** CONNECT and wait for the CONNACK; resolves with its return code. */
  async handshake(connect: Record<string, unknown> = {}): Promise<number> {
    this.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId: 'raw', ...connect });
    const connack = (await this.next((p) => p.cmd === 'connack')) as { returnCode: number };
    return connack.returnCode;
  }

  /** The first packet (already received or to come) that matches; rejects on close or timeout. */
  async next(match: (p: Packet) => boolean, timeoutMs = 5000): Promise<Packet> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.packets.find(match);
      if (found) return found;
      if (this.isClosed) throw new Error('connection closed before the packet arrived');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a packet');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Packets of one kind received so far. */
  count(cmd: string): number {
    return this.packets.filter((p) => p.cmd === cmd).length;
  }

  /** Resolves true when the server closes the connection within `ms`. */
  async closesWithin(ms: number): Promise<boolean> {
    return Promise.race([this.closed.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms))]);
  }

  end(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

/** The sum of one Prometheus counter's samples whose labels include `labels`. */
export async function metric(metricsUrl: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labelText = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

export const put = (id: string, message = '{"t":1}') => JSON.stringify({ request: { message }, id });
