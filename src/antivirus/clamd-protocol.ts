// clamd's wire protocol, without I/O: the address forms spamgate accepts, the INSTREAM framing (chunks of at most
// 64 KiB, each after its length as 4 bytes big-endian, then a zero-length chunk) and the reply of a scan
// (`stream: OK`, `stream: NAME FOUND`, `… ERROR`), as documented in clamd(8) under INSTREAM and z-prefixed commands.
import { isIP } from 'node:net';

/** Where clamd listens: a TCP address or a unix socket path. */
export type ClamdAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

/** The largest chunk sent at once (clamd reads any size up to StreamMaxLength; 64 KiB keeps each write small). */
export const MAX_CHUNK = 64 * 1024;

/** The z-prefixed commands end in NUL, and so do clamd's replies to them (clamd(8): "zCOMMAND\0"). */
export const INSTREAM_COMMAND = Buffer.from('zINSTREAM\0', 'latin1');
export const PING_COMMAND = Buffer.from('zPING\0', 'latin1');

/**
 * `unix:/run/clamav/clamd.ctl` (or an absolute path), `host:port`, `[v6]:port`. Returns the address, or what is
 * wrong with the text (for the config error).
 */
export function parseClamdAddress(text: string): ClamdAddress | { error: string } {
  const s = text.trim();
  if (s.startsWith('unix:') || s.startsWith('/')) {
    const p = s.startsWith('unix:') ? s.slice(5) : s;
    if (!p.startsWith('/')) return { error: `expected an absolute socket path after unix:, found ${JSON.stringify(p)}` };
    if (p.includes('\0')) return { error: 'the socket path contains a NUL byte' };
    return { kind: 'unix', path: p };
  }
  const m = /^(?:\[([^\]]*)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(s);
  if (!m) return { error: `expected "host:port" (e.g. "127.0.0.1:3310") or "unix:/path/to/clamd.sock", found ${JSON.stringify(text)}` };
  const host = m[1] ?? m[2] ?? '';
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return { error: `expected a port from 1 to 65535, found ${port}` };
  if (m[1] !== undefined && isIP(host) !== 6) return { error: `expected an IPv6 address between the brackets, found ${JSON.stringify(host)}` };
  if (m[2] !== undefined && isIP(host) === 0 && !/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(host)) {
    return { error: `expected a host name or IP address before the port, found ${JSON.stringify(host)}` };
  }
  return { kind: 'tcp', host, port };
}

/** How an address is named in logs and replies. */
export function formatClamdAddress(a: ClamdAddress): string {
  return a.kind === 'unix' ? `unix:${a.path}` : `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
}

/** The INSTREAM body of a message: its chunks, each after its 4-byte big-endian length, and the zero-length end. */
export function* instreamFrames(message: Buffer, maxChunk = MAX_CHUNK): Generator<Buffer> {
  for (let at = 0; at < message.length; at += maxChunk) {
    const chunk = message.subarray(at, Math.min(message.length, at + maxChunk));
    const length = Buffer.alloc(4);
    length.writeUInt32BE(chunk.length, 0);
    yield Buffer.concat([length, chunk]);
  }
  yield Buffer.alloc(4);
}

/** What clamd said of a scanned stream. */
export type ScanReply = { status: 'clean' } | { status: 'virus'; name: string } | { status: 'error'; message: string };

/** Longest virus name or error text kept (clamd's names are far shorter; the rest is cut). */
const MAX_TEXT = 200;

const printable = (s: string): string => s.replace(/[^\x20-\x7e]/g, '?').slice(0, MAX_TEXT);

/**
 * Parses one reply (without its NUL): `stream: OK`, `stream: Eicar-Test-Signature FOUND`,
 * `INSTREAM size limit exceeded. ERROR`, `stream: Can't allocate memory ERROR`. Anything else is an error result.
 */
export function parseScanReply(reply: string): ScanReply {
  const text = reply.replace(/\0+$/, '').trim();
  if (text === 'stream: OK') return { status: 'clean' };
  const found = /^stream: (.+) FOUND$/.exec(text);
  if (found?.[1] !== undefined && found[1].trim() !== '') return { status: 'virus', name: printable(found[1].trim()) };
  if (/ ERROR$/.test(text)) return { status: 'error', message: printable(text.replace(/ ERROR$/, '').replace(/^stream: /, '')) };
  return { status: 'error', message: `unexpected reply ${JSON.stringify(printable(text))}` };
}
