// Data-phase message authentication by mailauth over the project Resolver: DKIM (RFC 6376), ARC
// (RFC 8617) and DMARC (RFC 7489, using the SPF result of the mail phase); one Authentication-Results
// field (RFC 8601) with every method, SPF included. A DMARC failure on a message whose newest ARC seal is by a trusted
// sealer vouching for the From domain is ARC_TRUSTED_OVERRIDE instead of DMARC_FAIL_* (arc-override.ts).
import type { ARCData, ARCResult, DKIMVerifyResult } from 'mailauth';
import { arc } from 'mailauth/lib/arc/index.js';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { evaluateDmarc } from 'mailauth/lib/dmarc/index.js';
import { toMailauthResolver } from '../dns/mailauth-resolver.ts';
import type { Resolver } from '../dns/resolver.ts';
import { counter, type Counter, type Registry } from '../metrics/registry.ts';
import type { SpfOutcome } from '../dns/spf.ts';
import type { Check, CheckContext, SymbolHit } from './types.ts';
import type { ReceiptAuth } from '../queue/types.ts';
import { trustedArcOverride, type ArcOverride } from './arc-override.ts';
import { raceSignal } from './dns-common.ts';
import { SPF_RESULT_KEY } from './spf.ts';

export const DKIM_SYMBOLS = ['DKIM_PASS', 'DKIM_FAIL', 'DKIM_NONE', 'DKIM_TEMPERROR', 'DKIM_PERMERROR'];
export const DMARC_SYMBOLS = ['DMARC_PASS', 'DMARC_FAIL_REJECT', 'DMARC_FAIL_QUARANTINE', 'DMARC_FAIL_NONE', 'DMARC_NONE', 'DMARC_TEMPERROR', 'DMARC_PERMERROR'];
export const ARC_SYMBOLS = ['ARC_PASS', 'ARC_FAIL', 'ARC_NONE', 'ARC_TEMPERROR', 'ARC_TRUSTED_OVERRIDE'];
/** Keys in ctx.results. */
export const DKIM_RESULT_KEY = 'dkim';
export const DMARC_RESULT_KEY = 'dmarc';
/** ReceiptAuth: the Authentication-Results written and the ARC chain status, kept with the queued message. */
export const RECEIPT_AUTH_KEY = 'receipt_auth';
/** ArcOverride: a DMARC failure a trusted ARC sealer overrode (for the aggregate report's PolicyOverrideReason). */
export const ARC_OVERRIDE_KEY = 'arc_override';

export interface AuthCheckOptions {
  resolver: Resolver;
  /** authserv-id of Authentication-Results (our host name). */
  hostname: string;
  /** Smallest RSA key accepted (default 1024 bits, RFC 8301 §3.2). */
  minBitLength?: number;
  /** Counts spamgate_dkim_results_total{result} and spamgate_dmarc_results_total{result}. */
  registry?: Registry;
  /** arc.trusted_sealers: sealer domains whose ARC results override a DMARC failure. */
  trustedSealers?: readonly string[];
}

interface AuthMetrics {
  dkim: Counter<'result'>;
  dmarc: Counter<'result'>;
  overrides: Counter<'method'>;
}

/** Bounded label values: mailauth's statuses outside these count as the symbol they map to. */
const DKIM_RESULT_LABEL: Record<string, string> = { DKIM_PASS: 'pass', DKIM_FAIL: 'fail', DKIM_NONE: 'none', DKIM_TEMPERROR: 'temperror', DKIM_PERMERROR: 'permerror' };

function countResults(metrics: AuthMetrics | undefined, hits: readonly SymbolHit[]): void {
  if (!metrics) return;
  for (const h of hits) {
    const dkim = DKIM_RESULT_LABEL[h.symbol];
    // One count per signature (a hit carries the signing domains as options), one for an unsigned message.
    if (dkim) metrics.dkim.inc({ result: dkim }, h.symbol === 'DKIM_NONE' ? 1 : Math.max(1, h.options?.length ?? 1));
    else if (h.symbol.startsWith('DMARC_')) metrics.dmarc.inc({ result: h.symbol.startsWith('DMARC_FAIL_') ? 'fail' : h.symbol.slice(6).toLowerCase() });
    else if (h.symbol === 'ARC_TRUSTED_OVERRIDE') {
      // still a DMARC failure, whose policy was not applied
      metrics.dmarc.inc({ result: 'fail' });
      metrics.overrides.inc({ method: h.options?.[2]?.replace(/^method=/, '') ?? 'dmarc' });
    }
  }
}

const DKIM_MAP: Record<string, string> = { pass: 'DKIM_PASS', fail: 'DKIM_FAIL', neutral: 'DKIM_FAIL', policy: 'DKIM_FAIL', temperror: 'DKIM_TEMPERROR', permerror: 'DKIM_PERMERROR' };

async function authenticate(ctx: CheckContext, opts: AuthCheckOptions): Promise<SymbolHit[]> {
  const raw = ctx.message?.raw;
  if (!raw) return [];
  const resolver = toMailauthResolver(opts.resolver, ctx.signal);
  const hits: SymbolHit[] = [];
  const ar: string[] = [];

  const dkim: DKIMVerifyResult = await dkimVerify(raw, {
    resolver,
    sender: ctx.envelope.mailFrom,
    minBitLength: opts.minBitLength ?? 1024,
    curTime: ctx.now,
    // RFC 6376 §6.1.3: a body hash mismatch is a failure (strict reports fail, not neutral).
    strict: true,
  });
  ctx.results.set(DKIM_RESULT_KEY, dkim.results);
  // mailauth reports an unsigned message as one result "none" without a signing domain.
  const signatures = dkim.results.filter((r) => r.status.result !== 'none');
  if (!signatures.length) {
    hits.push({ symbol: 'DKIM_NONE' });
    ar.push('dkim=none');
  }
  const byDkimSymbol = new Map<string, string[]>();
  for (const r of signatures) {
    const symbol = DKIM_MAP[r.status.result] ?? 'DKIM_NONE';
    byDkimSymbol.set(symbol, [...(byDkimSymbol.get(symbol) ?? []), r.signingDomain ?? '?']);
    ar.push(r.info);
  }
  for (const [symbol, domains] of byDkimSymbol) hits.push({ symbol, options: domains });

  const spf = ctx.results.get(SPF_RESULT_KEY) as SpfOutcome | undefined;
  if (spf?.authResults) ar.push(spf.authResults);

  let arcResult: ARCResult | undefined;
  if (dkim.arc) {
    arcResult = await arc(dkim.arc as unknown as ARCData, { resolver, minBitLength: opts.minBitLength ?? 1024, ip: ctx.session.clientIp } as Parameters<typeof arc>[1]);
    const res = arcResult.status.result;
    if (res !== 'none' || arcResult.i) {
      hits.push({ symbol: res === 'pass' ? 'ARC_PASS' : res === 'temperror' ? 'ARC_TEMPERROR' : res === 'none' ? 'ARC_NONE' : 'ARC_FAIL', options: arcResult.i ? [`i=${arcResult.i}`] : [] });
      if (arcResult.info) ar.push(arcResult.info);
    }
  }

  if (dkim.headerFrom?.length) {
    const { response } = await evaluateDmarc({
      headerFrom: dkim.headerFrom,
      fromFields: dkim.fromFields,
      // RFC 7489 §4.2: only an SPF pass counts, for the domain SPF checked: the MAIL FROM domain, or for a
      // null reverse-path the HELO domain (RFC 7208 §2.4: the MAIL FROM identity is then postmaster@HELO).
      spfDomains: spf?.result === 'pass' ? [spf.domain] : [],
      dkimDomains: dkim.results
        .filter((r) => r.status.result === 'pass' && r.signingDomain)
        .map((r) => ({ domain: r.signingDomain as string, aligned: r.status.aligned ?? false, ...(r.status.underSized !== undefined ? { underSized: r.status.underSized } : {}) })),
      ...(arcResult ? { arcResult } : {}),
      resolver,
    });
    ctx.results.set(DMARC_RESULT_KEY, response || undefined);
    if (!response) hits.push({ symbol: 'DMARC_NONE' });
    else {
      const from = response.status.header?.from ?? response.domain;
      const result = response.status.result;
      if (result === 'pass') hits.push({ symbol: 'DMARC_PASS', options: [from] });
      else if (result === 'fail') {
        // RFC 7489 §6.6.4: the policy to apply is the effective p=/sp= of the organizational domain.
        const policy = response.policy === 'reject' ? 'REJECT' : response.policy === 'quarantine' ? 'QUARANTINE' : 'NONE';
        // RFC 7489 §6.7 / RFC 8617 §7.2: a trusted sealer's results may override the policy (local policy)
        const override: ArcOverride | undefined = trustedArcOverride(arcResult, from, opts.trustedSealers ?? []);
        if (override) {
          ctx.results.set(ARC_OVERRIDE_KEY, override);
          hits.push({ symbol: 'ARC_TRUSTED_OVERRIDE', options: [from, `sealer=${override.sealer}`, `method=${override.method}`, `p=${response.policy}`] });
        } else hits.push({ symbol: `DMARC_FAIL_${policy}`, options: [from, `p=${response.policy}`] });
      } else if (result === 'temperror' || result === 'temperr') hits.push({ symbol: 'DMARC_TEMPERROR', options: [from] });
      else if (result === 'permerror') hits.push({ symbol: 'DMARC_PERMERROR', options: [from] });
      else hits.push({ symbol: 'DMARC_NONE', options: [from] });
      if (response.info) ar.push(response.info);
    }
  }
  // RFC 8601 §2.2: authserv-id, then one resinfo per method.
  const authResults = [opts.hostname, ...ar.map((x) => x.replace(/[ \t]*\r?\n[ \t]*/g, ' '))].join(';\r\n\t');
  ctx.addHeader('Authentication-Results', authResults);
  // RFC 8617 §4.1.1: the AAR of a set we add when forwarding is what we found here; §4.4: the chain status at receipt
  const arcStatus = arcResult?.status.result;
  const receipt: ReceiptAuth = { results: authResults, arc: arcStatus === 'pass' ? 'pass' : arcStatus === undefined || arcStatus === 'none' ? 'none' : 'fail' };
  ctx.results.set(RECEIPT_AUTH_KEY, receipt);
  return hits;
}

export function createAuthCheck(opts: AuthCheckOptions): Check {
  const metrics: AuthMetrics | undefined = opts.registry
    ? {
        dkim: counter(opts.registry, 'spamgate_dkim_results_total', 'DKIM verification results (RFC 6376), one per signature or one per unsigned message', ['result']),
        dmarc: counter(opts.registry, 'spamgate_dmarc_results_total', 'DMARC evaluation results (RFC 7489) of messages with a From domain', ['result']),
        overrides: counter(opts.registry, 'spamgate_arc_trusted_overrides_total', 'DMARC failures whose policy was not applied because a trusted ARC sealer vouched for the From domain, by what passed in its results (dmarc, dkim, spf)', ['method']),
      }
    : undefined;
  for (const method of ['dmarc', 'dkim', 'spf']) metrics?.overrides.inc({ method }, 0);
  return {
    name: 'dkim_dmarc',
    phase: 'data',
    symbols: [...DKIM_SYMBOLS, ...DMARC_SYMBOLS, ...ARC_SYMBOLS],
    run: (ctx) =>
      raceSignal<SymbolHit[]>(
        authenticate(ctx, opts).catch((err: unknown) => {
          ctx.log.warn('message authentication failed', { err });
          return [{ symbol: 'DKIM_TEMPERROR', options: [(err as Error).message.slice(0, 100)] }];
        }),
        ctx.signal,
        () => [{ symbol: 'DKIM_TEMPERROR', options: ['deadline passed'] }],
      ).then((hits) => {
        countResults(metrics, hits);
        return hits;
      }),
  };
}
