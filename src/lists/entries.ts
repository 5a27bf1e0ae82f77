// Allow/deny list entries: parsing one entry by the list's kind (CIDR block, host name, mail address) and
// the compiled set that answers "which entry matches this subject" in time independent of the list's size.
import { domainToASCII } from 'node:url';
import { ipText, ipToBigInt, parseCidr, unwrapIpv4 } from '../util/cidr.ts';

/** What a list's entries are: addresses/CIDR blocks, host names, or mail addresses and domains. */
export type EntryKind = 'ip' | 'host' | 'address';

/** Where an entry was written: the list file and line, or the rules file's inline `entries:`. */
export interface EntryOrigin {
  /** The entry as written (trimmed). */
  text: string;
  /** "partners.txt:3" for a list file entry (path as the rules file names it); absent inline. */
  at?: string;
}

type Parsed =
  | { kind: 'ip'; family: 4 | 6; network: bigint; bits: number }
  | { kind: 'name'; name: string; subdomains: boolean }
  | { kind: 'mailbox'; address: string };

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/** A host or domain name as A-labels, lower case, without a final dot; undefined when it is not one. */
export function asciiName(text: string): string | undefined {
  const lower = text.toLowerCase().replace(/\.$/, '');
  // eslint-disable-next-line no-control-regex
  const ascii = /^[\x00-\x7f]*$/.test(lower) ? lower : domainToASCII(lower);
  if (ascii === '' || ascii.length > 253) return undefined;
  return ascii.split('.').every((l) => LABEL.test(l)) ? ascii : undefined;
}

/**
 * An address literal as a HELO name may be ("[192.0.2.1]", "[IPv6:2001:db8::1]", RFC 5321 §4.1.3) in one
 * canonical spelling, so that "[IPv6:2001:DB8:0::1]" is the same entry as "[IPv6:2001:db8::1]" and an
 * IPv4-mapped or NAT64 (64:ff9b::/96) IPv6 literal the same as its IPv4 one; undefined when the text is not an address literal.
 */
function addressLiteral(text: string): string | undefined {
  // an IPv6 literal without its "IPv6:" tag is taken too: a deny entry must not be dodged by a malformed HELO
  const m = /^\[(?:ipv6:)?([0-9a-f:.]+)\]$/i.exec(text);
  const addr = m?.[1] ? ipToBigInt(m[1]) : undefined;
  if (!addr) return undefined;
  const host = unwrapIpv4(addr);
  return host.family === 4 ? `[${ipText(host)}]` : `[ipv6:${ipText(host)}]`;
}

/** Parses one entry for a list of `kind`: the entry, or a message saying what was expected. */
export function parseEntry(kind: EntryKind, raw: string): Parsed | { error: string } {
  const text = raw.trim();
  if (text === '') return { error: 'empty entry' };
  if (kind === 'ip') {
    const c = parseCidr(text);
    if (!c) return { error: `expected an IPv4 or IPv6 address or CIDR block, found ${JSON.stringify(text)}` };
    const [addr] = text.split('/');
    const host = ipToBigInt(addr ?? '');
    // 10.1.2.3/8 is most likely a typing error: say which network it would mean instead of guessing
    if (host && host.value !== c.network) return { error: `${JSON.stringify(text)} has host bits set; the network is written ${networkText(c.family, c.network, c.bits)}` };
    return { kind: 'ip', family: c.family, network: c.network, bits: c.bits };
  }
  if (kind === 'host') {
    const literal = addressLiteral(text);
    if (literal) return { kind: 'name', name: literal, subdomains: false };
    const subdomains = text.startsWith('.');
    const name = asciiName(subdomains ? text.slice(1) : text);
    if (!name) return { error: `expected a host name, ".domain" for its subdomains or an address literal, found ${JSON.stringify(text)}` };
    return { kind: 'name', name, subdomains };
  }
  const at = text.lastIndexOf('@');
  if (at < 0) {
    const subdomains = text.startsWith('.');
    const name = asciiName(subdomains ? text.slice(1) : text);
    if (!name) return { error: `expected user@domain, domain or .domain, found ${JSON.stringify(text)}` };
    return { kind: 'name', name, subdomains };
  }
  const local = text.slice(0, at);
  const domain = asciiName(text.slice(at + 1));
  if (local === '' || /[\s<>@,;"\\]/.test(local) || !domain) return { error: `expected user@domain, domain or .domain, found ${JSON.stringify(text)}` };
  return { kind: 'mailbox', address: `${local.toLowerCase()}@${domain}` };
}

function networkText(family: 4 | 6, network: bigint, bits: number): string {
  return `${ipText({ family, value: network })}/${bits}`;
}

/** A compiled list: exact sets and prefix maps, so a lookup costs the same for ten entries or a million. */
export class EntrySet {
  /** One map network → origin per address family and prefix length in use (at most 33 + 129). */
  private readonly nets = new Map<string, { family: 4 | 6; bits: number; networks: Map<bigint, EntryOrigin> }>();
  private readonly exact = new Map<string, EntryOrigin>();
  private readonly suffixes = new Map<string, EntryOrigin>();
  private readonly mailboxes = new Map<string, EntryOrigin>();
  size = 0;

  constructor(readonly kind: EntryKind) {}

  /** Adds an entry, or returns what is wrong with it. A repeated entry keeps its first origin. */
  add(raw: string, at?: string): string | undefined {
    const p = parseEntry(this.kind, raw);
    if ('error' in p) return p.error;
    const origin: EntryOrigin = { text: raw.trim(), ...(at !== undefined ? { at } : {}) };
    this.size++;
    if (p.kind === 'ip') {
      const key = `${p.family}/${p.bits}`;
      let group = this.nets.get(key);
      if (!group) this.nets.set(key, (group = { family: p.family, bits: p.bits, networks: new Map() }));
      if (!group.networks.has(p.network)) group.networks.set(p.network, origin);
    } else if (p.kind === 'mailbox') {
      if (!this.mailboxes.has(p.address)) this.mailboxes.set(p.address, origin);
    } else {
      const target = p.subdomains ? this.suffixes : this.exact;
      if (!target.has(p.name)) target.set(p.name, origin);
    }
    return undefined;
  }

  /** The entry matching a client address (an IPv4 client seen through IPv6 mapping counts as IPv4). */
  matchIp(ip: string): EntryOrigin | undefined {
    const parsed = ipToBigInt(ip);
    if (!parsed) return undefined;
    const { family, value } = unwrapIpv4(parsed);
    const max = family === 4 ? 32 : 128;
    for (const group of this.nets.values()) {
      if (group.family !== family) continue;
      const shift = BigInt(max - group.bits);
      const hit = group.networks.get((value >> shift) << shift);
      if (hit) return hit;
    }
    return undefined;
  }

  /** The entry matching a host name: the name itself, or ".parent" for one of its parents. */
  matchHost(name: string): EntryOrigin | undefined {
    const host = addressLiteral(name) ?? asciiName(name);
    if (!host) return undefined;
    const exact = this.exact.get(host);
    if (exact) return exact;
    // every proper parent: a.b.example → b.example, example
    for (let i = host.indexOf('.'); i >= 0; i = host.indexOf('.', i + 1)) {
      const hit = this.suffixes.get(host.slice(i + 1));
      if (hit) return hit;
    }
    return undefined;
  }

  /**
   * The entry matching a mail address: the address, the address without its sub-address tag (user+tag@ → user@,
   * with `delimiter`, as the mail host delivers it), its domain, or ".parent" of its domain.
   */
  matchAddress(address: string, delimiter = ''): EntryOrigin | undefined {
    const at = address.lastIndexOf('@');
    if (at <= 0) return undefined;
    const domain = asciiName(address.slice(at + 1));
    if (!domain) return undefined;
    const local = address.slice(0, at).toLowerCase();
    const exact = this.mailboxes.get(`${local}@${domain}`);
    if (exact) return exact;
    const tag = delimiter === '' ? -1 : local.indexOf(delimiter.toLowerCase());
    const base = tag > 0 ? this.mailboxes.get(`${local.slice(0, tag)}@${domain}`) : undefined;
    return base ?? this.matchHost(domain);
  }
}
