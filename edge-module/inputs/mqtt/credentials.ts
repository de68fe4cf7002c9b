/**
 * Per-device MQTT passwords from a mounted file (MQTT_CREDENTIALS_FILE), in mosquitto's password file
 * format so device owners can manage it with `mosquitto_passwd` (Debian package `mosquitto`):
 * one `name:$7$<iterations>$<salt base64>$<PBKDF2-HMAC-SHA512 base64>` line per device, `#` comments.
 * Only hashes are stored; plain-text and unsalted SHA-512 (`$6$`) lines are refused at start.
 *
 * The file is read again when its modification time changes, so devices can be added or revoked without
 * a restart; a file that no longer parses keeps the previous credentials in force and is logged.
 */
import { pbkdf2, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';

interface Hash {
  readonly iterations: number;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

const PBKDF2_LINE = /^\$7\$([0-9]{1,7})\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/;
// Compared against when a name is unknown, so the answer takes as long as for a known one.
const DUMMY: Hash = { iterations: 101, salt: Buffer.alloc(12), hash: Buffer.alloc(64) };

export class CredentialsFileError extends Error {
  constructor(file: string, message: string) {
    super(`MQTT_CREDENTIALS_FILE '${file}': ${message}`);
    this.name = 'CredentialsFileError';
  }
}

/** Parse the file's text; throws CredentialsFileError naming the first bad line. */
export function parseCredentials(file: string, text: string): ReadonlyMap<string, Hash> {
  const out = new Map<string, Hash>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new CredentialsFileError(file, `line ${index + 1} is not 'name:hash'`);
    const name = line.slice(0, colon);
    const m = PBKDF2_LINE.exec(line.slice(colon + 1));
    if (!m) {
      throw new CredentialsFileError(
        file,
        `line ${index + 1} (${name}) is not a PBKDF2-SHA512 hash ($7$…): create it with 'mosquitto_passwd ${file} ${name}'`,
      );
    }
    const hash = { iterations: Number(m[1]), salt: Buffer.from(m[2] as string, 'base64'), hash: Buffer.from(m[3] as string, 'base64') };
    if (hash.iterations < 1 || hash.salt.length < 8 || hash.hash.length !== 64) {
      throw new CredentialsFileError(file, `line ${index + 1} (${name}) has a malformed hash`);
    }
    if (out.has(name)) throw new CredentialsFileError(file, `line ${index + 1}: '${name}' is listed twice`);
    out.set(name, hash);
  });
  return out;
}

function derive(password: Buffer, hash: Hash): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    pbkdf2(password, hash.salt, hash.iterations, 64, 'sha512', (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export class CredentialsFile {
  private constructor(
    private readonly file: string,
    private entries: ReadonlyMap<string, Hash>,
    private mtimeMs: number,
    private readonly onReloadError: (err: Error) => void,
  ) {}

  static async open(file: string, onReloadError: (err: Error) => void): Promise<CredentialsFile> {
    let text: string;
    let mtimeMs: number;
    try {
      [text, mtimeMs] = await Promise.all([readFile(file, 'utf8'), stat(file).then((s) => s.mtimeMs)]);
    } catch (err) {
      throw new CredentialsFileError(file, (err as Error).message);
    }
    return new CredentialsFile(file, parseCredentials(file, text), mtimeMs, onReloadError);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Whether `password` is `name`'s. */
  async verify(name: string, password: Buffer): Promise<boolean> {
    await this.reloadIfChanged();
    const known = this.entries.get(name);
    const derived = await derive(password, known ?? DUMMY);
    return known !== undefined && timingSafeEqual(derived, known.hash);
  }

  private async reloadIfChanged(): Promise<void> {
    try {
      const { mtimeMs } = await stat(this.file);
      if (mtimeMs === this.mtimeMs) return;
      // Set first: a file that does not parse is reported once per change, not on every connect.
      this.mtimeMs = mtimeMs;
      this.entries = parseCredentials(this.file, await readFile(this.file, 'utf8'));
    } catch (err) {
      this.onReloadError(err as Error);
    }
  }
}
