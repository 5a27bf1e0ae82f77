// DNSBL and RHSBL checks (RFC 5782): the client address in the connect phase, the HELO name in the helo
// phase, the MAIL FROM domain in the mail phase; every list of a phase is asked at once under one deadline.
import type { DnsblEngine, ListResult } from '../dns/dnsbl.ts';
import { listSymbols, type DnsblList, type DnsblSection } from '../dns/dnsbl-rules.ts';
import type { CheckName } from './names.ts';
import type { Check, CheckContext, Phase, SymbolHit } from './types.ts';
import { domainOf, raceSignal } from './dns-common.ts';

/** Key in ctx.results: the TXT reason of the first listing, for the reject reply. */
export const DNSBL_REASON_KEY = 'dnsbl_reason';

const KINDS: Array<{ kind: DnsblList['kind']; name: CheckName; phase: Phase; temperror: string; subject: (ctx: CheckContext) => string }> = [
  { kind: 'ip', name: 'dnsbl', phase: 'connect', temperror: 'DNSBL_TEMPERROR', subject: (ctx) => ctx.session.clientIp },
  { kind: 'helo', name: 'rhsbl_helo', phase: 'helo', temperror: 'RHSBL_TEMPERROR', subject: (ctx) => (ctx.session.helo ?? '').toLowerCase() },
  { kind: 'from_domain', name: 'rhsbl_from', phase: 'mail', temperror: 'RHSBL_TEMPERROR', subject: (ctx) => domainOf(ctx.envelope.mailFrom) },
];

export function createDnsblChecks(engine: DnsblEngine, section: DnsblSection): Check[] {
  const checks: Check[] = [];
  for (const k of KINDS) {
    const names = engine.lists(k.kind);
    if (!names.length) continue;
    const symbols = new Set<string>([k.temperror]);
    for (const list of names.map((n) => section[n])) for (const s of list ? listSymbols(list) : []) symbols.add(s);
    checks.push({
      name: k.name,
      phase: k.phase,
      symbols: [...symbols],
      async run(ctx) {
        const subject = k.subject(ctx);
        if (!subject) return [];
        const settled = new Map<string, ListResult>();
        const all = Promise.all(names.map(async (n) => void settled.set(n, await engine.lookup(n, subject))));
        await raceSignal(all, ctx.signal, () => []);
        const hits: SymbolHit[] = [];
        for (const n of names) {
          const r = settled.get(n) ?? { status: 'temperror', reason: 'deadline passed' };
          if (r.status === 'listed') {
            for (const symbol of r.symbols) hits.push({ symbol, options: [n, ...r.codes, ...(r.reason ? [r.reason] : [])] });
            if (r.reason && !ctx.results.has(DNSBL_REASON_KEY)) ctx.results.set(DNSBL_REASON_KEY, r.reason);
          } else if (r.status === 'temperror') {
            hits.push({ symbol: k.temperror, options: [n] });
          }
        }
        // One temperror symbol per check, naming every list that failed.
        const temp = hits.filter((h) => h.symbol === k.temperror);
        const rest = hits.filter((h) => h.symbol !== k.temperror);
        if (temp.length) rest.push({ symbol: k.temperror, options: temp.flatMap((h) => h.options ?? []) });
        return rest;
      },
    });
  }
  return checks;
}
