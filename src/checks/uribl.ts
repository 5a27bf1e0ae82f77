// URI block lists (SURBL, URIBL, Spamhaus DBL; as SpamAssassin's URIDNSBL plugin and rspamd's SURBL module) in
// the data phase, on the decoded message: `uribl` asks the registered domains of the body's links in the `uri`
// lists (RFC 5782 §3: the name before the zone) and the public IP literals of links in the `uri_ip` lists
// (RFC 5782 §2.1 reversed octets, §2.4 nibbles);
// `rhsbl_from_header` asks the domains of the header From and Reply-To in the `from_header` lists. Every
// lookup of a message goes at once under the check's deadline; a hit names the domain or address.
// Links through known open redirectors give their targets too (uri-subjects.ts). `uri_ns` lists are asked the
// name servers of the link domains (uri-ns.ts): their registered domains, or with `ns_ip` their addresses; a hit
// names the link domain and the name server (`evil.example/ns=badns.example`). A name server finding that a
// `uri` or `uri_ip` list of the same zone also asks as a link subject (ns1.evil.example serving evil.example,
// dbl_ns beside dbl_uri) scores only when the link question did not: one listing scores once, by the link. The
// name server question is still asked (the resolver answers both from one query): the link's may be skipped (its
// list failed its health check) or its answer mean nothing to that list (codes that differ).
import addressparser from 'nodemailer/lib/addressparser';
import { uriSubjects, type UriSubjects } from '../content/uri-subjects.ts';
import type { DnsblEngine, ListResult } from '../dns/dnsbl.ts';
import type { Resolver } from '../dns/resolver.ts';
import { nameServersOf, type NsFound } from '../dns/uri-ns.ts';
import { listSymbols, type DnsblList, type DnsblSection } from '../dns/dnsbl-rules.ts';
import { excludedBy, registeredDomain } from '../dns/registered-domain.ts';
import { DEFAULT_MAX_NS_DOMAINS, DEFAULT_MAX_NS_HOSTS, DEFAULT_MAX_NS_LOOKUPS, type UriblSettings } from '../dns/uribl-rules.ts';
import type { MimeLimits } from '../mime/parse.ts';
import { ipToBigInt } from '../util/cidr.ts';
import { publicAddress } from '../util/ip-ranges.ts';
import { parsedMail } from './content-shared.ts';
import { raceSignal } from './dns-common.ts';
import type { CheckName } from './names.ts';
import type { Check, CheckContext, SymbolHit } from './types.ts';

export const URIBL_TEMPERROR = 'URIBL_TEMPERROR';
export const RHSBL_TEMPERROR = 'RHSBL_TEMPERROR';
const MEMO_SUBJECTS = 'uribl:subjects';
const MEMO_NS = 'uribl:ns';

export interface UriblDeps {
  engine: DnsblEngine;
  section: DnsblSection;
  settings: UriblSettings;
  limits: MimeLimits;
  /** local_domains: our own; neither their links nor a From / Reply-To at them is asked (by registered domain). */
  localDomains?: readonly string[];
  /** The resolver for the name server lookups of uri_ns lists (without one, uri_ns lists ask nothing). */
  resolver?: Resolver;
}

/** One question: a list, a subject (domain or address), and what a hit shows. */
interface Ask {
  list: string;
  subject: string;
  option: string;
}

type Subject = { subject: string; option: string };
/** A list's subjects: returned, or (uri_ns) handed to `ask` one by one as they are found. */
type Subjects = (list: DnsblList, ctx: CheckContext, ask: (s: Subject) => void) => Subject[] | Promise<Subject[]>;
/** The name server findings of one message, shared by its uri_ns lists: those so far, those to come, the end. */
interface NsStream {
  found: NsFound[];
  listeners: Set<(f: NsFound) => void>;
  done: Promise<unknown>;
}
const plain = (subjects: readonly string[]): Subject[] => subjects.map((s) => ({ subject: s, option: s }));

export function createUriblChecks(deps: UriblDeps): Check[] {
  const { settings } = deps;
  const emails = deps.engine.lists('uri').some((n) => deps.section[n]?.emails === true);
  // our own domains: in every reply's quoted signature, so each would take one of max_uris, and a listing of one of
  // them (an abused site of ours) would score every message that mentions us
  const own = (deps.localDomains ?? []).map(registeredDomain).filter((d): d is string => d !== undefined);
  const exclude: ReadonlySet<string> = own.length ? new Set([...settings.exclude, ...own]) : settings.exclude;
  const domainsOf = (candidates: readonly string[]): string[] => candidates.filter((d) => !excludedBy(d, exclude)).slice(0, settings.maxUris);
  const subjectsOf = (ctx: CheckContext): UriSubjects | undefined => {
    const view = ctx.message;
    const redirects = { redirectors: settings.redirectors ?? [], redirectDepth: settings.redirectDepth ?? 0 };
    return view ? view.memo(MEMO_SUBJECTS, () => uriSubjects(parsedMail(view, deps.limits), { emails, ...redirects })) : undefined;
  };
  const uri = (list: DnsblList, ctx: CheckContext): Subject[] => {
    const s = subjectsOf(ctx);
    return plain(s ? domainsOf(list.emails ? [...s.domains, ...s.emailDomains] : s.domains) : []);
  };
  const uriIp = (list: DnsblList, ctx: CheckContext): Subject[] => {
    const found = new Set<string>();
    for (const ip of subjectsOf(ctx)?.ips ?? []) {
      // never a private, loopback or link-local address: a public list knows nothing of it, and the query
      // would tell the list's operator about the inside of our network
      const pub = publicAddress(ip);
      const family = pub === undefined ? undefined : ipToBigInt(pub)?.family;
      if (pub !== undefined && ((family === 4 && list.ipv4) || (family === 6 && list.ipv6))) found.add(pub);
    }
    return plain([...found].slice(0, settings.maxUris));
  };
  const fromHeader: Subjects = (_list, ctx) => plain(domainsOf(headerDomains(ctx)));
  // the name servers of the link domains, looked up once per message for every uri_ns list
  const nsLists = deps.engine.lists('uri_ns').map((n) => deps.section[n]).filter((l): l is DnsblList => l !== undefined);
  const nsOpts = { addresses: nsLists.some((l) => l.ns_ip), ipv6: nsLists.some((l) => l.ns_ip && l.ipv6), exclude };
  const nsBounds = { maxDomains: settings.maxNsDomains ?? DEFAULT_MAX_NS_DOMAINS, maxHosts: settings.maxNsHosts ?? DEFAULT_MAX_NS_HOSTS, maxLookups: settings.maxNsLookups ?? DEFAULT_MAX_NS_LOOKUPS };
  const nsOf = (ctx: CheckContext): NsStream | undefined => {
    const view = ctx.message;
    const resolver = deps.resolver;
    if (!view || !resolver) return undefined;
    return view.memo(MEMO_NS, () => {
      const stream: NsStream = { found: [], listeners: new Set(), done: Promise.resolve() };
      const heard = (f: NsFound): void => {
        stream.found.push(f);
        for (const l of stream.listeners) l(f);
      };
      stream.done = nameServersOf(resolver, domainsOf(subjectsOf(ctx)?.domains ?? []), nsBounds, { ...nsOpts, signal: ctx.signal }, heard);
      return stream;
    });
  };
  /** What the `uri` and `uri_ip` lists of this zone ask of the message: its link domains and addresses. */
  const zoneLists = (kind: 'uri' | 'uri_ip', zone: string): DnsblList[] =>
    deps.engine.lists(kind).map((n) => deps.section[n]).filter((l): l is DnsblList => l !== undefined && l.zone === zone);
  const askedAsLinks = (list: DnsblList, ctx: CheckContext): ReadonlySet<string> => {
    const out = new Set<string>();
    for (const l of zoneLists('uri', list.zone)) for (const s of uri(l, ctx)) out.add(s.subject);
    for (const l of zoneLists('uri_ip', list.zone)) for (const s of uriIp(l, ctx)) out.add(s.subject);
    return out;
  };
  // each name server is asked as soon as it is known: a link domain whose name servers never answer (a spammer's
  // dead or stalling DNS) must not hold back the others past the deadline
  const uriNs: Subjects = async (list, ctx, ask) => {
    const ns = nsOf(ctx);
    if (!ns) return [];
    let asked = 0;
    // a subject the same zone is asked as a link (the DBL's dbl_uri and dbl_ns: ns1.evil.example serving
    // evil.example) takes none of max_uris; its hit is dropped when the link's scored (run, below)
    const links = askedAsLinks(list, ctx);
    const take = (f: NsFound): void => {
      if (f.kind !== (list.ns_ip ? 'address' : 'domain')) return;
      const link = links.has(f.value);
      if (!link && asked >= settings.maxUris) return;
      const family = f.kind === 'address' ? ipToBigInt(f.value)?.family : undefined;
      if (f.kind === 'address' && !((family === 4 && list.ipv4) || (family === 6 && list.ipv6))) return;
      if (!link) asked++;
      ask({ subject: f.value, option: `${f.link}/ns=${f.value}` });
    };
    ns.found.forEach(take);
    ns.listeners.add(take);
    try {
      await ns.done;
    } finally {
      ns.listeners.delete(take);
    }
    return [];
  };
  return [
    makeCheck(deps, 'uribl', URIBL_TEMPERROR, [
      ['uri', uri],
      ['uri_ip', uriIp],
      ['uri_ns', uriNs],
    ]),
    makeCheck(deps, 'rhsbl_from_header', RHSBL_TEMPERROR, [['from_header', fromHeader]]),
  ].filter((c): c is Check => c !== undefined);
}

function makeCheck(deps: UriblDeps, name: CheckName, temperror: string, kinds: Array<[DnsblList['kind'], Subjects]>): Check | undefined {
  const lists = kinds.flatMap(([kind, subjects]) => deps.engine.lists(kind).map((n) => ({ name: n, def: deps.section[n], subjects })));
  if (!lists.length) return undefined;
  const symbols = new Set<string>([temperror]);
  for (const l of lists) for (const s of l.def ? listSymbols(l.def) : []) symbols.add(s);
  return {
    name,
    phase: 'data',
    symbols: [...symbols],
    async run(ctx) {
      const asks: Ask[] = [];
      const settled = new Map<Ask, ListResult>();
      /** Lists whose subjects are still being found (uri_ns: the name server lookups) when the deadline passes. */
      const finding = new Set<string>();
      const all = Promise.all(
        lists.map(async (l) => {
          if (!l.def) return;
          const lookups: Array<Promise<void>> = [];
          const ask = (s: Subject): void => {
            const a: Ask = { list: l.name, ...s };
            asks.push(a);
            // past the deadline the answer is no longer read (the question unanswered is a temperror): not sent
            if (!ctx.signal.aborted) lookups.push(deps.engine.lookup(a.list, a.subject).then((r) => void settled.set(a, r)));
          };
          finding.add(l.name);
          for (const s of await l.subjects(l.def, ctx, ask)) ask(s);
          finding.delete(l.name);
          await Promise.all(lookups);
        }),
      );
      await raceSignal(all, ctx.signal, () => []);
      // the subjects a link list scored, by zone: a uri_ns list of that zone asked the same one (a link domain that
      // is its own name server's) would count that one listing twice
      const defs = new Map(lists.map((l) => [l.name, l.def]));
      const key = (zone: string, subject: string): string => `${zone}\n${subject}`;
      const scoredLinks = new Set<string>();
      for (const a of asks) {
        const def = defs.get(a.list);
        if (def && (def.kind === 'uri' || def.kind === 'uri_ip') && settled.get(a)?.status === 'listed') scoredLinks.add(key(def.zone, a.subject));
      }
      const hits: SymbolHit[] = [];
      const failed = new Set<string>(finding);
      for (const a of asks) {
        const def = defs.get(a.list);
        if (def?.kind === 'uri_ns' && scoredLinks.has(key(def.zone, a.subject))) continue;
        const r = settled.get(a) ?? { status: 'temperror', reason: 'deadline passed' };
        if (r.status === 'listed') for (const symbol of r.symbols) hits.push({ symbol, options: [a.option] });
        else if (r.status === 'temperror') failed.add(a.list);
      }
      // one temperror symbol per check, naming every list that failed
      if (failed.size) hits.push({ symbol: temperror, options: [...failed] });
      return hits;
    },
  };
}

/** Registered domains of the addresses of every From and Reply-To field, in order, without repeats. */
export function headerDomains(ctx: CheckContext): string[] {
  const found = new Set<string>();
  for (const h of ctx.message?.headers ?? []) {
    const field = h.name.toLowerCase();
    if (field !== 'from' && field !== 'reply-to') continue;
    for (const a of addressparser(h.value, { flatten: true }).slice(0, 20)) {
      const at = (a.address ?? '').lastIndexOf('@');
      const d = at < 0 ? undefined : registeredDomain((a.address ?? '').slice(at + 1));
      if (d) found.add(d);
    }
  }
  return [...found];
}
