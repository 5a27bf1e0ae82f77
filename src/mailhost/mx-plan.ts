// Where mail for a domain goes (RFC 5321 §5.1): MX lookup, null MX (RFC 7505), implicit MX, MX
// hosts ordered by preference with ties shuffled, unusable exchanges dropped, and this host's own
// names taken out with everything at or below their preference (mail loop prevention).
import net from 'node:net';
import type { Resolver } from '../dns/resolver.ts';
import type { NextHopReply } from '../queue/types.ts';

export interface MxHost {
  name: string;
  /** MX preference; 0 for the implicit MX. */
  priority: number;
}

export type DetailedMxPlan =
  | { kind: 'hosts'; hosts: MxHost[]; implicit: boolean }
  | { kind: 'fail'; status: 'temp' | 'perm'; reply: NextHopReply };

export type MxPlan = { kind: 'hosts'; hosts: string[]; implicit: boolean } | { kind: 'fail'; status: 'temp' | 'perm'; reply: NextHopReply };

/** Most MX records considered; the rest of an oversized answer is ignored (hosts tried are capped again by config). */
export const MAX_MX_RECORDS = 32;

const normName = (name: string): string => name.toLowerCase().replace(/\.$/, '');

/** A host name in the DNS sense: LDH labels (underscore tolerated), 1..63 octets each, 253 in all. */
export function isHostName(name: string): boolean {
  if (name.length === 0 || name.length > 253 || net.isIP(name)) return false;
  return name.split('.').every((l) => /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/i.test(l));
}

/**
 * The host an address-literal domain names (RFC 5321 §4.1.3: `[192.0.2.1]`, `[IPv6:2001:db8::1]`, the tag in
 * any case), in one canonical spelling (RFC 5952; an IPv4-mapped address as IPv4), so the loop check sees
 * every spelling of our own addresses; undefined for a domain name or a malformed literal.
 */
export function literalAddress(domain: string): string | undefined {
  const m = /^\[(ipv6:)?([^\]%]+)\]$/i.exec(domain);
  const ip = m?.[2];
  if (!m || ip === undefined) return undefined;
  if (!m[1]) return net.isIPv4(ip) ? ip : undefined;
  if (!net.isIPv6(ip)) return undefined;
  const text = new URL(`http://[${ip}]`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(text);
  if (!mapped) return text;
  const [hi, lo] = [parseInt(mapped[1] ?? '0', 16), parseInt(mapped[2] ?? '0', 16)];
  return [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join('.');
}

/** The loop reply (RFC 3463 X.4.6 routing loop); permanent, as RFC 5321 §5.1 says. */
export function loopReply(domain: string): NextHopReply {
  return { code: 554, enhanced: '5.4.6', text: `mail for ${domain} loops back to myself` };
}

/** Sorts by preference, shuffling hosts of equal preference (RFC 5321 §5.1 MUST randomize ties). */
export function orderMxHosts(records: readonly { exchange: string; priority: number }[], random: () => number = Math.random): MxHost[] {
  const keyed = records.map((r) => ({ r, k: random() }));
  keyed.sort((a, b) => a.r.priority - b.r.priority || a.k - b.k);
  return keyed.map(({ r }) => ({ name: normName(r.exchange), priority: r.priority }));
}

export function orderMx(records: { exchange: string; priority: number }[], random: () => number = Math.random): string[] {
  return orderMxHosts(records, random).map((h) => h.name);
}

/**
 * RFC 5321 §5.1: a relay that finds any of its own names among the MX hosts MUST discard the
 * records at that preference and above (higher numbers); with none left the message MUST be returned.
 * Returns the hosts left, or undefined when none are.
 */
export function dropSelfAndBelow(hosts: readonly MxHost[], isSelfName: (name: string) => boolean): MxHost[] | undefined {
  let own = Number.POSITIVE_INFINITY;
  for (const h of hosts) if (isSelfName(h.name)) own = Math.min(own, h.priority);
  const left = hosts.filter((h) => h.priority < own);
  return left.length ? left : undefined;
}

export interface PlanOptions {
  random?: () => number;
  /** Names this host is known by (hostname, HELO name); an MX with one of them is us. */
  selfNames?: readonly string[];
}

export async function planMxHosts(resolver: Resolver, domain: string, opts: PlanOptions = {}): Promise<DetailedMxPlan> {
  const self = new Set((opts.selfNames ?? []).map(normName));
  const isSelf = (n: string): boolean => self.has(n);
  // RFC 5321 §2.3.5, §4.1.3: an address literal stands in for a domain name and names the host itself: no MX
  // lookup (a bracketed name is no DNS name); the caller connects to the address (and checks it is not us).
  if (domain.startsWith('[')) {
    if (literalAddress(domain) === undefined) return { kind: 'fail', status: 'perm', reply: { code: 550, enhanced: '5.1.2', text: `bad address literal ${domain}` } };
    return { kind: 'hosts', hosts: [{ name: domain.toLowerCase(), priority: 0 }], implicit: true };
  }
  const mx = await resolver.lookup(domain, 'MX');
  // RFC 5321 §5.1: a temporary error MUST be queued and retried; a non-existent domain MUST be reported.
  if (mx.status === 'temperror') return { kind: 'fail', status: 'temp', reply: { code: 451, enhanced: '4.4.3', text: `MX lookup for ${domain} failed: ${mx.reason}` } };
  if (mx.status === 'nxdomain') return { kind: 'fail', status: 'perm', reply: { code: 550, enhanced: '5.1.2', text: `domain ${domain} does not exist` } };
  if (mx.status !== 'ok' || !mx.records.length) {
    // RFC 5321 §5.1: no MX records → the domain itself is the implicit MX (preference 0).
    if (isSelf(normName(domain))) return { kind: 'fail', status: 'perm', reply: loopReply(domain) };
    return { kind: 'hosts', hosts: [{ name: normName(domain), priority: 0 }], implicit: true };
  }
  // RFC 7505 §3: an MX of "." (null MX) says the domain accepts no mail; §4.1: fail at once with 5.1.10.
  if (mx.records.some((r) => r.exchange === '' || r.exchange === '.')) {
    return { kind: 'fail', status: 'perm', reply: { code: 556, enhanced: '5.1.10', text: `domain ${domain} does not accept mail (null MX)` } };
  }
  // RFC 5321 §5.1: the exchange MUST be a domain name; an IP literal or a non-name is unusable.
  const usable = mx.records.filter((r) => isHostName(normName(r.exchange)));
  const ordered: MxHost[] = [];
  const seen = new Set<string>();
  for (const h of orderMxHosts(usable, opts.random)) {
    if (ordered.length >= MAX_MX_RECORDS) break;
    if (!seen.has(h.name)) ordered.push(h);
    seen.add(h.name);
  }
  const hosts = dropSelfAndBelow(ordered, isSelf);
  if (!hosts) {
    if (ordered.length) return { kind: 'fail', status: 'perm', reply: loopReply(domain) };
    // RFC 5321 §5.1: MX records present but none usable is an error; retried, as it may be repaired.
    return { kind: 'fail', status: 'temp', reply: { code: 451, enhanced: '4.4.4', text: `no usable MX host for ${domain} (not host names)` } };
  }
  return { kind: 'hosts', hosts, implicit: false };
}

/** planMxHosts with host names only. */
export async function planMx(resolver: Resolver, domain: string, random?: () => number, selfNames?: readonly string[]): Promise<MxPlan> {
  const plan = await planMxHosts(resolver, domain, { ...(random ? { random } : {}), ...(selfNames ? { selfNames } : {}) });
  return plan.kind === 'fail' ? plan : { kind: 'hosts', hosts: plan.hosts.map((h) => h.name), implicit: plan.implicit };
}
