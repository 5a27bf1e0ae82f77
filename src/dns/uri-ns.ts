// The name servers of a message's link domains, for `uri_ns` lists (as SpamAssassin's urinsrhsbl and uridnsbl
// rules, and Spamhaus's advice to check a domain's name servers in the DBL and SBL): a spam domain registered
// yesterday is on no list yet, but the name servers its spammer always uses are. Each link domain's NS records
// are looked up through spamgate's resolver (cache, timeout), and on request their hosts' addresses. Bounded:
// `maxDomains` link domains, `maxHosts` name servers of each, `maxLookups` resolver lookups in all.
import { publicAddress } from '../util/ip-ranges.ts';
import { excludedBy, registeredDomain } from './registered-domain.ts';
import type { Resolver } from './resolver.ts';

export interface NsBounds {
  maxDomains: number;
  maxHosts: number;
  maxLookups: number;
}

export interface NsSubjects {
  /** Registered domain of a name server → the first link domain it serves. */
  domains: Map<string, string>;
  /** Public address of a name server → the first link domain it serves. */
  addresses: Map<string, string>;
  /** Resolver lookups spent. */
  lookups: number;
}

export interface NsOptions {
  /** Look up the name servers' addresses (an ns_ip list is enabled): A, and AAAA with `ipv6`. */
  addresses: boolean;
  ipv6: boolean;
  /** Name server domains never asked (uribl.exclude, local domains): big DNS hosts serve half the web. */
  exclude: ReadonlySet<string>;
  /** The check's deadline: once passed, no further lookup (its answer would not be read). */
  signal?: AbortSignal;
}

/** Addresses read from one name server's A (or AAAA) answer. */
const MAX_ADDRESSES_PER_HOST = 4;

const norm = (name: string): string => name.toLowerCase().replace(/\.$/, '');

/** One name server finding: its registered domain or one of its public addresses, and the link domain it serves. */
export interface NsFound {
  kind: 'domain' | 'address';
  value: string;
  link: string;
}

/**
 * The name servers of `linkDomains` (already reduced, excluded and ordered); DNS errors leave a domain out. Each
 * link domain goes on by itself (its NS answer, then its name servers' addresses), and `onFound` hears of every
 * finding at once: a link domain whose name servers never answer holds back none of the others.
 */
export async function nameServersOf(resolver: Resolver, linkDomains: readonly string[], bounds: NsBounds, opts: NsOptions, onFound?: (f: NsFound) => void): Promise<NsSubjects> {
  const out: NsSubjects = { domains: new Map(), addresses: new Map(), lookups: 0 };
  const spend = (): boolean => (out.lookups < bounds.maxLookups ? (out.lookups++, true) : false);
  const asked = linkDomains.slice(0, bounds.maxDomains).filter(() => spend());
  /** Name server hosts already resolved (or being resolved) for an earlier link domain. */
  const hosts = new Set<string>();
  const types: Array<'A' | 'AAAA'> = opts.ipv6 ? ['A', 'AAAA'] : ['A'];
  const address = (ip: string, domain: string): void => {
    // never a private, loopback or link-local address: a public list knows nothing of it, and the question
    // would tell its operator what the name server of a link points inside
    const pub = publicAddress(ip);
    if (pub === undefined || out.addresses.has(pub)) return;
    out.addresses.set(pub, domain);
    onFound?.({ kind: 'address', value: pub, link: domain });
  };
  await Promise.all(
    asked.map(async (domain) => {
      const r = await resolver.lookup(domain, 'NS');
      if (r.status !== 'ok') return;
      // sorted: the answer order rotates, the chosen ones should not
      const names = [...new Set(r.records.map(norm))].filter((n) => n.length > 0).sort().slice(0, bounds.maxHosts);
      const mine: string[] = [];
      for (const host of names) {
        const nsDomain = registeredDomain(host);
        // a name server under no registered domain (localhost, a private name) is neither asked nor resolved
        if (nsDomain === undefined) continue;
        if (!hosts.has(host)) (hosts.add(host), mine.push(host));
        if (!excludedBy(nsDomain, opts.exclude) && !out.domains.has(nsDomain)) {
          out.domains.set(nsDomain, domain);
          onFound?.({ kind: 'domain', value: nsDomain, link: domain });
        }
      }
      if (!opts.addresses || opts.signal?.aborted) return;
      const questions = mine.flatMap((host) => types.map((type) => ({ host, type }))).filter(() => spend());
      await Promise.all(
        questions.map(async (q) => {
          const a = await resolver.lookup(q.host, q.type);
          // a name server has an address or two: a hostile answer of thousands is neither held nor checked whole
          if (a.status === 'ok') for (const ip of a.records.slice(0, MAX_ADDRESSES_PER_HOST)) address(ip, domain);
        }),
      );
    }),
  );
  return out;
}
