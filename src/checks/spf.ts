// SPF checks (RFC 7208): the MAIL FROM identity (the HELO identity for a null sender, §2.4) in the mail
// phase, and the HELO identity as its own check in the helo phase. Results feed DMARC via ctx.results.
import { checkSpf, type SpfOutcome, type SpfResult } from '../dns/spf.ts';
import type { Resolver } from '../dns/resolver.ts';
import { counter, type Registry } from '../metrics/registry.ts';
import type { Check, CheckContext, SymbolHit } from './types.ts';
import { isDomainSyntax, raceSignal } from './dns-common.ts';

const SUFFIX: Record<SpfResult, string> = {
  pass: 'PASS',
  fail: 'FAIL',
  softfail: 'SOFTFAIL',
  neutral: 'NEUTRAL',
  none: 'NONE',
  temperror: 'TEMPERROR',
  permerror: 'PERMERROR',
};
export const SPF_SYMBOLS = Object.values(SUFFIX).map((s) => `SPF_${s}`);
export const SPF_HELO_SYMBOLS = Object.values(SUFFIX).map((s) => `SPF_HELO_${s}`);

/** Keys in ctx.results: the SpfOutcome of each identity. */
export const SPF_RESULT_KEY = 'spf';
export const SPF_HELO_RESULT_KEY = 'spf_helo';

export interface SpfCheckOptions {
  resolver: Resolver;
  hostname: string;
  /** Whole-evaluation limit (RFC 7208 §4.6.4), default 20 s; the check's own budget usually ends it first. */
  evaluationTimeoutMs?: number;
  /** Counts results in spamgate_spf_results_total{identity, result}. */
  registry?: Registry;
}

function abortedOutcome(identity: 'mailfrom' | 'helo'): SpfOutcome {
  return { result: 'temperror', identity, domain: '', sender: '', comment: 'check deadline passed', receivedSpf: '', authResults: 'spf=temperror' };
}

async function evaluate(ctx: CheckContext, opts: SpfCheckOptions, mailFrom: string): Promise<SpfOutcome> {
  const helo = ctx.session.helo ?? '';
  const work = checkSpf({
    resolver: opts.resolver,
    ip: ctx.session.clientIp,
    mailFrom,
    helo,
    hostname: opts.hostname,
    timeoutMs: opts.evaluationTimeoutMs ?? 20_000,
    signal: ctx.signal,
  });
  return raceSignal(work, ctx.signal, () => abortedOutcome(mailFrom ? 'mailfrom' : 'helo'));
}

function hit(prefix: string, o: SpfOutcome): SymbolHit {
  const options = [o.domain || o.sender].filter(Boolean);
  if (o.explanation) options.push(o.explanation.slice(0, 200));
  return { symbol: `${prefix}${SUFFIX[o.result]}`, options };
}

export function createSpfChecks(opts: SpfCheckOptions): Check[] {
  const results = opts.registry
    ? counter(opts.registry, 'spamgate_spf_results_total', 'SPF evaluations (RFC 7208) by identity (mailfrom, helo) and result', ['identity', 'result'])
    : undefined;
  const mailFrom: Check = {
    name: 'spf',
    phase: 'mail',
    symbols: SPF_SYMBOLS,
    async run(ctx) {
      const sender = ctx.envelope.mailFrom;
      // A null reverse path is checked with the HELO identity (RFC 7208 §2.4); an unusable HELO then gives none.
      if (!sender && !isDomainSyntax(ctx.session.helo ?? '')) {
        results?.inc({ identity: 'mailfrom', result: 'none' });
        return [{ symbol: 'SPF_NONE', options: ['null sender, HELO not a domain'] }];
      }
      const o = await evaluate(ctx, opts, sender);
      results?.inc({ identity: 'mailfrom', result: o.result });
      ctx.results.set(SPF_RESULT_KEY, o);
      // RFC 7208 §9.1: record the result in a Received-SPF field.
      if (o.receivedSpf) ctx.addHeader('Received-SPF', o.receivedSpf);
      return [hit('SPF_', o)];
    },
  };
  const helo: Check = {
    name: 'spf_helo',
    phase: 'helo',
    symbols: SPF_HELO_SYMBOLS,
    async run(ctx) {
      const name = ctx.session.helo ?? '';
      // RFC 7208 §2.3: the HELO check applies when the HELO identity is a domain name.
      if (!isDomainSyntax(name) || !name.includes('.')) return [];
      const o = await evaluate(ctx, opts, '');
      results?.inc({ identity: 'helo', result: o.result });
      ctx.results.set(SPF_HELO_RESULT_KEY, o);
      return [hit('SPF_HELO_', o)];
    },
  };
  return [mailFrom, helo];
}
