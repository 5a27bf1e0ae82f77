// PROXY protocol v1 (text) and v2 (binary) header parsing, for spamgate behind HAProxy.
// Only peers in smtp.proxy_protocol_from are asked for a header; the parser never trusts anyone.
import { isIPv4, isIPv6, type Socket } from 'node:net';

export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_MAX = 107; // PROXY protocol spec §2.1: a v1 line is at most 107 bytes including CRLF.
const V2_MAX_BODY = 1024;

export type ProxyInfo =
  /** Addresses of the real client and the address it connected to. */
  | { kind: 'proxied'; sourceIp: string; sourcePort: number; destIp: string; destPort: number }
  /** LOCAL (v2) or UNKNOWN (v1): the proxy's own connection, use the socket's addresses. */
  | { kind: 'local' };

export type ParseResult = { done: false } | { done: true; info: ProxyInfo; consumed: number } | { done: true; error: string };

/** Parses the start of a buffer; returns done:false while more bytes are needed. */
export function parseProxyHeader(buf: Buffer): ParseResult {
  if (buf.length >= 1 && buf[0] === 0x0d) return parseV2(buf);
  if (buf.length >= 1 && buf[0] === 0x50) return parseV1(buf);
  return { done: true, error: 'not a PROXY protocol header' };
}

function parseV1(buf: Buffer): ParseResult {
  const end = buf.indexOf('\r\n');
  if (end === -1) return buf.length >= V1_MAX ? { done: true, error: 'PROXY v1 line too long' } : { done: false };
  const parts = buf.subarray(0, end).toString('latin1').split(' ');
  if (parts[0] !== 'PROXY') return { done: true, error: 'not a PROXY protocol header' };
  const consumed = end + 2;
  if (parts[1] === 'UNKNOWN') return { done: true, info: { kind: 'local' }, consumed };
  if ((parts[1] !== 'TCP4' && parts[1] !== 'TCP6') || parts.length !== 6) return { done: true, error: 'malformed PROXY v1 line' };
  const [, , src, dst, sport, dport] = parts as [string, string, string, string, string, string];
  const sp = Number(sport);
  const dp = Number(dport);
  if (!/^\d{1,5}$/.test(sport) || !/^\d{1,5}$/.test(dport) || sp > 65535 || dp > 65535) return { done: true, error: 'bad port in PROXY v1 line' };
  // PROXY protocol spec §2.1: TCP4 carries two IPv4 addresses, TCP6 two IPv6 addresses (no zone index)
  const valid = parts[1] === 'TCP4' ? isIPv4 : (a: string): boolean => isIPv6(a) && !a.includes('%');
  if (!valid(src) || !valid(dst)) return { done: true, error: 'bad address in PROXY v1 line' };
  return { done: true, info: { kind: 'proxied', sourceIp: src, sourcePort: sp, destIp: dst, destPort: dp }, consumed };
}

function parseV2(buf: Buffer): ParseResult {
  if (buf.length < 16) {
    return V2_SIGNATURE.subarray(0, buf.length).equals(buf.subarray(0, Math.min(buf.length, 12))) ? { done: false } : { done: true, error: 'not a PROXY protocol header' };
  }
  if (!buf.subarray(0, 12).equals(V2_SIGNATURE)) return { done: true, error: 'not a PROXY protocol header' };
  const verCmd = buf[12] ?? 0;
  const fam = buf[13] ?? 0;
  const len = buf.readUInt16BE(14);
  if (verCmd >> 4 !== 2) return { done: true, error: 'unsupported PROXY protocol version' };
  if (len > V2_MAX_BODY) return { done: true, error: 'PROXY v2 header too long' };
  if (buf.length < 16 + len) return { done: false };
  const consumed = 16 + len;
  const cmd = verCmd & 0x0f;
  if (cmd === 0) return { done: true, info: { kind: 'local' }, consumed };
  if (cmd !== 1) return { done: true, error: 'unknown PROXY v2 command' };
  const body = buf.subarray(16, 16 + len);
  const transport = fam & 0x0f;
  const family = fam >> 4;
  if (transport !== 1) return { done: true, info: { kind: 'local' }, consumed }; // not TCP: treat as unknown
  if (family === 1 && len >= 12) {
    const ip = (o: number): string => [...body.subarray(o, o + 4)].join('.');
    return { done: true, info: { kind: 'proxied', sourceIp: ip(0), destIp: ip(4), sourcePort: body.readUInt16BE(8), destPort: body.readUInt16BE(10) }, consumed };
  }
  if (family === 2 && len >= 36) {
    const ip = (o: number): string => {
      const groups: string[] = [];
      for (let i = 0; i < 16; i += 2) groups.push(body.readUInt16BE(o + i).toString(16));
      return groups.join(':');
    };
    return { done: true, info: { kind: 'proxied', sourceIp: ip(0), destIp: ip(16), sourcePort: body.readUInt16BE(32), destPort: body.readUInt16BE(34) }, consumed };
  }
  if (family === 0) return { done: true, info: { kind: 'local' }, consumed };
  return { done: true, error: 'unsupported PROXY v2 address family' };
}

/** Reads a PROXY header from a fresh socket; bytes after it are pushed back for the SMTP parser. */
export function readProxyHeader(socket: Socket, timeoutMs: number): Promise<ProxyInfo> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const finish = (err: Error | undefined, info?: ProxyInfo, rest?: Buffer): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
      if (rest && rest.length) socket.unshift(rest);
      if (err) reject(err);
      else if (info) resolve(info);
    };
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const r = parseProxyHeader(buf);
      if (!r.done) return;
      if ('error' in r) finish(new Error(r.error));
      else finish(undefined, r.info, buf.subarray(r.consumed));
    };
    const onClose = (): void => finish(new Error('connection closed before PROXY header'));
    const timer = setTimeout(() => finish(new Error('timeout waiting for PROXY header')), timeoutMs);
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}
