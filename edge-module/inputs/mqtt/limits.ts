/**
 * Connection-level limits aedes has no option for: the largest packet, and keepalive bounds.
 * (Max connections, CONNECT timeout and the QoS 2 backlog are net.Server and aedes options; see mqtt.ts.)
 */
import type { Client } from 'aedes';

/** The part of mqtt-packet's parser the size guard hooks (mqtt-packet 9, as aedes 1.2 creates it). */
interface PacketParser {
  _parseLength(): boolean;
  _emitError(err: Error): void;
  packet: { length: number; cmd?: string };
}

export class PacketTooLargeError extends Error {
  constructor(
    readonly bytes: number,
    readonly maxBytes: number,
  ) {
    super(`MQTT packet of ${bytes} bytes is over MQTT_MAX_PACKET_BYTES=${maxBytes}`);
    this.name = 'PacketTooLargeError';
  }
}

/**
 * Refuse a packet as soon as its fixed header says it is too long: mqtt-packet would otherwise buffer the
 * whole packet (up to 256 MB) before anyone sees it. aedes has no such option (moscajs/aedes#831), so the
 * guard wraps the length step of this client's parser; the parser's error closes the connection.
 */
export function limitPacketSize(client: Client, maxBytes: number, onTooLarge: (bytes: number) => void): void {
  const parser = (client as unknown as { _parser?: PacketParser })._parser;
  if (!parser || typeof parser._parseLength !== 'function') {
    // A newer aedes changed its internals: fail loudly rather than run without the limit.
    throw new Error('cannot apply MQTT_MAX_PACKET_BYTES: the aedes client has no mqtt-packet parser to guard');
  }
  const parseLength = parser._parseLength;
  parser._parseLength = function guardedParseLength(this: PacketParser): boolean {
    const done = parseLength.call(this);
    if (done && this.packet.length > maxBytes) {
      onTooLarge(this.packet.length);
      this._emitError(new PacketTooLargeError(this.packet.length, maxBytes));
      return false;
    }
    return done;
  };
}

/**
 * The keepalive the server enforces: the client's, held within [min, max] seconds; 0 (no keepalive) is
 * taken as max, so a dead connection never holds its slot forever. MQTT 3.1.1 cannot tell the client,
 * but a longer server-side timeout is harmless and a silent client is still dropped after 1.5 × this.
 */
export function boundedKeepalive(requested: number, minSeconds: number, maxSeconds: number): number {
  if (!Number.isFinite(requested) || requested <= 0) return maxSeconds;
  return Math.min(maxSeconds, Math.max(minSeconds, requested));
}
