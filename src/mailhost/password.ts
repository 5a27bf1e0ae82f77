// Password hashing: scrypt with a random salt in `$scrypt$N$r$p$salt$hash` form, verified in constant time.
import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

export const DEFAULT_SCRYPT: ScryptParams = { N: 16_384, r: 8, p: 1 };
const KEY_LEN = 32;
const MAX_N = 1 << 17;

function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const opts: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r * params.p + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFC'), salt, KEY_LEN, opts, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, params);
  return `$scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

interface ParsedHash {
  params: ScryptParams;
  salt: Buffer;
  key: Buffer;
}

function parseHash(hash: string): ParsedHash | undefined {
  const m = /^\$scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(hash);
  if (!m) return undefined;
  const params = { N: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  // Refuse parameters that would make a single verification a denial of service.
  if (params.N < 2 || params.N > MAX_N || (params.N & (params.N - 1)) !== 0 || params.r < 1 || params.r > 16 || params.p < 1 || params.p > 16) return undefined;
  const key = Buffer.from(m[5] ?? '', 'base64');
  if (key.length < 16) return undefined;
  return { params, salt: Buffer.from(m[4] ?? '', 'base64'), key };
}

export function isScryptHash(hash: string): boolean {
  return parseHash(hash) !== undefined;
}

/** A hash of a random password, verified against when the user does not exist, so timing does not tell. */
let dummyHash: Promise<string> | undefined;

export async function verifyPassword(password: string, hash: string | undefined): Promise<boolean> {
  const stored = hash === undefined ? undefined : parseHash(hash);
  if (!stored) {
    dummyHash ??= hashPassword(randomBytes(12).toString('hex'));
    const dummy = parseHash(await dummyHash);
    if (dummy) await derive(password, dummy.salt, dummy.params);
    return false;
  }
  const key = await derive(password, stored.salt, stored.params);
  return key.length === stored.key.length && timingSafeEqual(key, stored.key);
}

/** RFC 1939 §7: the APOP digest is MD5(timestamp + secret), as 32 lower-case hex digits. */
export function apopDigest(timestamp: string, secret: string): string {
  return createHash('md5').update(timestamp + secret, 'utf8').digest('hex');
}

/** Constant-time comparison of two hex digests. */
export function digestsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a.toLowerCase(), 'utf8');
  const y = Buffer.from(b.toLowerCase(), 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
