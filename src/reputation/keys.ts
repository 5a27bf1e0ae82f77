// The keys sender reputation is kept under: the client network (IPv4 /24, IPv6 /64 by default) and the
// sender domain only when authenticated in this transaction (SPF pass of the MAIL FROM domain, or a DKIM
// pass aligned with the From domain: lists/authenticated.ts). Never a domain merely claimed, never HELO
// (the client names itself as it likes; its address is the key). The keys ride on the accepted message in
// X-Spamgate-Reputation (a forged one is stripped at DATA) so a report of the message finds them again.
import { isIPv4, isIPv6 } from 'node:net';
import { authenticatedBy } from '../lists/authenticated.ts';

export type KeyKind = 'ip' | 'domain';
export const KEY_KINDS: readonly KeyKind[] = ['ip', 'domain'];

export interface ReputationKey {
  kind: KeyKind;
  /** "192.0.2.0/24", "2001:db8::/64", or a lower-case domain. */
  value: string;
}

export const REPUTATION_HEADER = 'X-Spamgate-Reputation';

export const keyId = (k: ReputationKey): string => `${k.kind}:${k.value}`;

function ipv4Network(ip: string, prefix: number): string {
  const n = ip.split('.').reduce((acc, p) => acc * 256 + Number(p), 0);
  const masked = prefix === 0 ? 0 : n - (n % 2 ** (32 - prefix));
  const parts = [24, 16, 8, 0].map((s) => Math.floor(masked / 2 ** s) % 256);
  return `${parts.join('.')}/${prefix}`;
}

function ipv6Groups(ip: string): number[] {
  const [head = '', tail] = ip.split('::');
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const h = parse(head);
  const t = tail === undefined ? [] : parse(tail);
  return [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t];
}

function ipv6Network(ip: string, prefix: number): string {
  const groups = ipv6Groups(ip).map((g, i) => {
    const bits = Math.max(0, Math.min(16, prefix - i * 16));
    return bits === 0 ? 0 : g & (0xffff << (16 - bits)) & 0xffff;
  });
  // compressed form: the longest run of zero groups as '::'
  let best = { at: -1, len: 0 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.len) best = { at: i, len: j - i };
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  const text = best.len > 1 ? `${hex.slice(0, best.at).join(':')}::${hex.slice(best.at + best.len).join(':')}` : hex.join(':');
  return `${text}/${prefix}`;
}

/** The client network of an address, or undefined for something that is not one. */
export function networkOf(ip: string, v4Prefix: number, v6Prefix: number): string | undefined {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1];
  if (mapped) return ipv4Network(mapped, v4Prefix);
  if (isIPv4(ip)) return ipv4Network(ip, v4Prefix);
  if (isIPv6(ip)) return ipv6Network(ip.replace(/%.*$/, ''), v6Prefix);
  return undefined;
}

const domainOfAddress = (addr: string): string | undefined => {
  const at = addr.lastIndexOf('@');
  return at < 0 ? undefined : addr.slice(at + 1).replace(/>$/, '').toLowerCase().replace(/\.$/, '') || undefined;
};

/**
 * The first word (between white space, commas and semicolons) with an '@' that has characters on both sides: a
 * linear scan. The pattern /[^\s,;]+@[^\s,;]+/ finds the same word but backtracks quadratically over a long word
 * without one (a From field of 200 kB held the event loop for most of a minute).
 */
function firstAddressWord(from: string): string | undefined {
  for (const word of from.split(/[\s,;]+/)) if (word.slice(1, -1).includes('@')) return word;
  return undefined;
}

/** The From header's domain (the first address). */
export function fromDomain(from: string | undefined): string | undefined {
  if (!from) return undefined;
  const address = /<([^<>]*)>/.exec(from)?.[1] ?? firstAddressWord(from);
  return address ? domainOfAddress(address) : undefined;
}

/** The authenticated sender domain: the MAIL FROM domain with an SPF pass, else the From domain with an aligned DKIM pass. */
export function authenticatedDomain(mailFrom: string, from: string | undefined, results: ReadonlyMap<string, unknown>): string | undefined {
  const envelope = domainOfAddress(mailFrom);
  if (envelope && authenticatedBy('spf', envelope, results)) return envelope;
  const header = fromDomain(from);
  if (header && authenticatedBy('dkim', header, results)) return header;
  return undefined;
}

export interface KeySource {
  clientIp: string;
  mailFrom: string;
  from: string | undefined;
  results: ReadonlyMap<string, unknown>;
}

/** The keys of one message. */
export function keysOf(src: KeySource, opts: { ipv4_prefix: number; ipv6_prefix: number; domain: boolean }): ReputationKey[] {
  const keys: ReputationKey[] = [];
  const net = networkOf(src.clientIp, opts.ipv4_prefix, opts.ipv6_prefix);
  if (net) keys.push({ kind: 'ip', value: net });
  const dom = opts.domain ? authenticatedDomain(src.mailFrom, src.from, src.results) : undefined;
  if (dom) keys.push({ kind: 'domain', value: dom });
  return keys;
}

/** The header value naming the keys: "ip=192.0.2.0/24; domain=example.com". */
export const formatKeysHeader = (keys: readonly ReputationKey[]): string => keys.map((k) => `${k.kind}=${k.value}`).join('; ');

/** The keys in a header value; anything else is ignored. */
export function parseKeysHeader(value: string): ReputationKey[] {
  const keys: ReputationKey[] = [];
  for (const part of value.split(';')) {
    const m = /^\s*(ip|domain)=([0-9A-Za-z.:/_-]{1,255})\s*$/.exec(part);
    if (m?.[1] && m[2]) keys.push({ kind: m[1] as KeyKind, value: m[2].toLowerCase() });
  }
  return keys;
}

/** Parses "ip:1.2.3.0/24" / "domain:example.com" (the CLI's KEY); a bare address or domain is taken as such. */
export function parseKeyId(text: string, opts: { ipv4_prefix: number; ipv6_prefix: number }): ReputationKey | undefined {
  const m = /^(ip|domain):(.+)$/.exec(text.trim());
  const kind = m?.[1] as KeyKind | undefined;
  const value = (m?.[2] ?? text).trim().toLowerCase();
  if (kind === 'domain') return { kind, value };
  const bare = value.replace(/\/\d+$/, '');
  const net = networkOf(bare, opts.ipv4_prefix, opts.ipv6_prefix);
  if (net) return { kind: 'ip', value: net };
  if (kind === 'ip') return undefined;
  return /^[a-z0-9.-]+$/.test(value) ? { kind: 'domain', value } : undefined;
}
