// DNSBL / RHSBL lookups (RFC 5782): query names, return-code mapping, list errors, and list health
// from the §5 test points, re-checked on demand every health_interval (no timers to stop).
import type { Registry } from 'prom-client';
import { counter } from '../metrics/registry.ts';
import { expandIpv6, ipToBigInt, normalizeIp } from '../util/cidr.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { DnsblHealthBook, type ListHealth } from './dnsbl-health.ts';
import { compileAnswerMap, symbolsOfAnswers, type AnswerMap } from './dnsbl-codes.ts';
import { asksAddresses, type DnsblList } from './dnsbl-rules.ts';
import type { Resolver } from './resolver.ts';

export type ListResult =
  | { status: 'listed'; symbols: string[]; codes: string[]; reason?: string }
  | { status: 'clean' | 'skipped' }
  | { status: 'error'; reason: string }
  | { status: 'temperror'; reason: string };

/** RFC 5782 §2.1 (IPv4: reversed octets) and §2.4 (IPv6: reversed nibbles), then the zone. */
export function reversedName(ip: string, zone: string): string | undefined {
  const parsed = ipToBigInt(ip);
  if (!parsed) return undefined;
  if (parsed.family === 4) return `${normalizeIp(ip).split('.').reverse().join('.')}.${zone}`;
  const nibbles = expandIpv6(normalizeIp(ip))
    .map((g) => g.toString(16).padStart(4, '0'))
    .join('');
  return `${[...nibbles].reverse().join('.')}.${zone}`;
}

/** After an inconclusive health check (DNS error), the next probe is due this much later. */
const HEALTH_RETRY_MS = 30_000;

export interface DnsblEngineOptions {
  resolver: Resolver;
  lists: Record<string, DnsblList>;
  registry?: Registry;
  /**
   * The app's health records, shared by the engines of successive snapshots; the engine serves (and the
   * gauge shows its lists) once activate() is called. Without one the engine keeps its own and serves at once.
   */
  health?: DnsblHealthBook;
  log: Logger;
  clock: Clock;
}

interface ListState {
  name: string;
  list: DnsblList;
  answers: AnswerMap;
  /** Shared with the engine of the previous snapshot when the list's definition is unchanged. */
  h: ListHealth;
}

export interface DnsblEngine {
  /** Enabled lists of a kind. */
  lists(kind: DnsblList['kind']): readonly string[];
  /** Looks one subject (IP or domain) up in one list; never throws. */
  lookup(listName: string, subject: string): Promise<ListResult>;
  /** Runs (or awaits) the health check of every enabled list now. */
  checkHealth(): Promise<Record<string, boolean>>;
  isUp(listName: string): boolean;
  /** This engine's snapshot is the running one: spamgate_dnsbl_list_up shows its lists. */
  activate(): void;
}

export function createDnsblEngine(opts: DnsblEngineOptions): DnsblEngine {
  const { resolver, log, clock } = opts;
  const book = opts.health ?? new DnsblHealthBook(opts.registry);
  const lookups = opts.registry ? counter(opts.registry, 'spamgate_dnsbl_lookups_total', 'DNS block list lookups, by list and result', ['list', 'result']) : undefined;
  const states = new Map<string, ListState>();
  for (const [name, list] of Object.entries(opts.lists)) {
    if (!list.enabled) continue;
    states.set(name, { name, list, answers: compileAnswerMap(list.codes, list.bits), h: book.recordFor(name, list) });
  }
  const activate = (): void => book.activate(new Map([...states.values()].map((s) => [s.name, s.h])));
  if (!opts.health) activate();

  function queryName(st: ListState, subject: string): string | undefined {
    let name: string | undefined;
    if (!asksAddresses(st.list)) name = /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?$/i.test(subject) ? `${subject.toLowerCase().replace(/\.$/, '')}.${st.list.zone}` : undefined;
    else {
      const fam = ipToBigInt(subject)?.family;
      if ((fam === 4 && !st.list.ipv4) || (fam === 6 && !st.list.ipv6)) return undefined;
      name = reversedName(subject, st.list.zone);
    }
    // RFC 1035 §2.3.4: labels of 63 octets or less, names of 255 on the wire (253 in text); a longer one cannot be
    // listed (the transport would refuse to encode it, and the lookup count as a clean answer): it is not asked
    return name !== undefined && name.length <= 253 && name.split('.').every((l) => l.length <= 63) ? name : undefined;
  }

  async function query(st: ListState, subject: string): Promise<ListResult> {
    const name = queryName(st, subject);
    if (!name) return { status: 'skipped' };
    const a = await resolver.lookup(name, 'A');
    if (a.status === 'temperror') return { status: 'temperror', reason: a.reason };
    if (a.status !== 'ok') return { status: 'clean' };
    // An answer outside the documented codes (e.g. 127.255.255.254, "query refused") is a list
    // error, never a listing.
    const mapped = symbolsOfAnswers(st.answers, a.records);
    if (!mapped.ok) return { status: 'error', reason: `${mapped.reason} for ${name}` };
    let reason: string | undefined;
    if (st.list.txt) {
      const txt = await resolver.lookup(name, 'TXT');
      if (txt.status === 'ok') reason = txt.records.join(' ').slice(0, 200);
    }
    return { status: 'listed', symbols: mapped.symbols, codes: a.records, ...(reason ? { reason } : {}) };
  }

  /**
   * RFC 5782 §5: an IP list MUST list 127.0.0.2 (::FFFF:7F00:2) and MUST NOT list 127.0.0.1 (::FFFF:7F00:1); a
   * domain list MUST list TEST and MUST NOT list INVALID. A domain list that predates it names its own listed
   * test point (`test_point`, e.g. test.surbl.org); INVALID stays the unlisted one.
   */
  async function health(st: ListState): Promise<void> {
    const [listedProbe, cleanProbe] = !asksAddresses(st.list)
      ? [st.list.test_point ?? 'test', 'invalid']
      : st.list.ipv4
        ? ['127.0.0.2', '127.0.0.1']
        : ['::ffff:7f00:2', '::ffff:7f00:1'];
    const [listed, clean] = await Promise.all([query(st, listedProbe), query(st, cleanProbe)]);
    if (listed.status === 'temperror' || clean.status === 'temperror') {
      // A DNS timeout or SERVFAIL says nothing about the list's answers: keep its state (lookups then
      // give *_TEMPERROR, not silence) and probe again soon rather than after a whole health_interval.
      log.debug('dnsbl health check inconclusive (DNS error); list state kept', { list: st.name, up: st.h.up });
      st.h.checkedAt = clock.now() - st.list.health_interval + Math.min(HEALTH_RETRY_MS, st.list.health_interval);
      return;
    }
    const ok = listed.status === 'listed' && clean.status === 'clean';
    if (ok !== st.h.up) log[ok ? 'info' : 'warn'](ok ? 'dnsbl list up' : 'dnsbl list failed its health check; skipped', { list: st.name, listed: listed.status, clean: clean.status });
    st.h.up = ok;
    st.h.known = true;
    st.h.checkedAt = clock.now();
  }

  function refresh(st: ListState): Promise<void> {
    const h = st.h;
    if (!h.pending) h.pending = health(st).finally(() => (h.pending = undefined));
    return h.pending;
  }

  return {
    lists: (kind) => [...states.values()].filter((s) => s.list.kind === kind).map((s) => s.name),
    isUp: (name) => states.get(name)?.h.up ?? false,
    activate,
    async checkHealth() {
      await Promise.all([...states.values()].filter((s) => s.list.health_check).map(refresh));
      return Object.fromEntries([...states.values()].map((s) => [s.name, s.h.up]));
    },
    async lookup(listName, subject) {
      const st = states.get(listName);
      if (!st) return { status: 'skipped' };
      if (st.list.health_check) {
        const checkedAt = st.h.checkedAt;
        if (checkedAt === undefined) await refresh(st);
        else if (clock.now() - checkedAt >= st.list.health_interval) void refresh(st);
      }
      if (!st.h.up) {
        lookups?.inc({ list: listName, result: 'skipped' });
        return { status: 'skipped' };
      }
      const r = await query(st, subject).catch((err: unknown): ListResult => ({ status: 'temperror', reason: (err as Error).message }));
      if (r.status === 'error') log.warn('dnsbl list error', { list: listName, reason: r.reason });
      lookups?.inc({ list: listName, result: r.status });
      return r;
    },
  };
}
