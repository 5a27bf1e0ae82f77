// IPv4/IPv6 address parsing and CIDR matching, on BigInt so v4 and v6 share one code path.
import { isIPv4, isIPv6 } from 'node:net';

export interface Cidr {
  family: 4 | 6;
  network: bigint;
  bits: number;
}

/** Normalises "::ffff:1.2.3.4" to "1.2.3.4" and lower-cases IPv6. */
export function normalizeIp(ip: string): string {
  const v4mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (v4mapped?.[1]) return v4mapped[1];
  return ip.toLowerCase();
}

export function ipToBigInt(ip: string): { family: 4 | 6; value: bigint } | undefined {
  const addr = normalizeIp(ip);
  if (isIPv4(addr)) {
    const value = addr.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
    return { family: 4, value };
  }
  if (isIPv6(addr)) return { family: 6, value: ipv6ToBigInt(addr) };
  return undefined;
}

const V4_MAPPED = 0xffffn << 32n; // ::ffff:0:0/96 (RFC 4291 §2.5.5.2)
const NAT64_WELL_KNOWN = 0x0064ff9bn << 96n; // 64:ff9b::/96 (RFC 6052 §2.1)

/**
 * An IPv6 address that stands for an IPv4 host, as that IPv4 address: IPv4-mapped in any spelling, and the NAT64
 * well-known prefix, behind which every IPv4 client of an IPv6-only server appears. Others are returned as they are.
 */
export function unwrapIpv4(addr: { family: 4 | 6; value: bigint }): { family: 4 | 6; value: bigint } {
  if (addr.family === 4) return addr;
  const prefix = addr.value >> 32n << 32n;
  return prefix === V4_MAPPED || prefix === NAT64_WELL_KNOWN ? { family: 4, value: addr.value & 0xffffffffn } : addr;
}

/** "a.b.c.d" of a 32-bit value. */
export function ipv4Text(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => Number((value >> s) & 0xffn)).join('.');
}

/** The canonical text of an address: dotted IPv4, or IPv6 in its short form (RFC 5952 §4). */
export function ipText(addr: { family: 4 | 6; value: bigint }): string {
  if (addr.family === 4) return ipv4Text(addr.value);
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((addr.value >> BigInt(i * 16)) & 0xffffn).toString(16));
  // the URL serializer writes an IPv6 address in its canonical short form
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/** Expands an IPv6 address to its eight 16-bit groups. */
export function expandIpv6(addr: string): number[] {
  let text = addr;
  const tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1]) {
    const o = v4[1].split('.').map(Number);
    tail.push(((o[0] ?? 0) << 8) | (o[1] ?? 0), ((o[2] ?? 0) << 8) | (o[3] ?? 0));
    // "::ffff:" loses the colon before the dotted part; "::" and "64:ff9b::" keep theirs (zero groups follow)
    text = text.slice(0, -v4[1].length);
    if (text.endsWith(':') && !text.endsWith('::')) text = text.slice(0, -1);
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const left = parse(head);
  const right = rest === undefined ? [] : parse(rest);
  const fill = 8 - tail.length - left.length - right.length;
  const groups = rest === undefined ? [...left, ...tail] : [...left, ...new Array<number>(Math.max(0, fill)).fill(0), ...right, ...tail];
  return groups;
}

function ipv6ToBigInt(addr: string): bigint {
  return expandIpv6(addr).reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

export function parseCidr(text: string): Cidr | undefined {
  const [addr, bitsText, extra] = text.trim().split('/');
  if (addr === undefined || extra !== undefined) return undefined;
  const ip = ipToBigInt(addr);
  if (!ip) return undefined;
  const max = ip.family === 4 ? 32 : 128;
  const bits = bitsText === undefined ? max : Number(bitsText);
  if (!Number.isInteger(bits) || bits < 0 || bits > max || (bitsText !== undefined && !/^\d+$/.test(bitsText))) return undefined;
  const shift = BigInt(max - bits);
  return { family: ip.family, network: (ip.value >> shift) << shift, bits };
}

export function cidrContains(cidr: Cidr, ip: string): boolean {
  const parsed = ipToBigInt(ip);
  if (!parsed || parsed.family !== cidr.family) return false;
  const shift = BigInt((cidr.family === 4 ? 32 : 128) - cidr.bits);
  return (parsed.value >> shift) << shift === cidr.network;
}

/** A compiled list of CIDR blocks. */
export class CidrSet {
  private readonly blocks: Cidr[];
  constructor(entries: readonly string[]) {
    this.blocks = entries.map((e) => {
      const c = parseCidr(e);
      if (!c) throw new Error(`invalid CIDR ${e}`);
      return c;
    });
  }
  has(ip: string): boolean {
    return this.blocks.some((b) => cidrContains(b, ip));
  }
  get size(): number {
    return this.blocks.length;
  }
}
