// Runs one SMTP phase's checks for a session (with timings and metrics) and enforces hard policy.
import { runChecks } from '../checks/runner.ts';
import type { CheckContext, Phase, SymbolHit } from '../checks/types.ts';
import { scoreHits } from '../scoring/scorer.ts';
import type { GatewayDeps } from './gateway-types.ts';
import { symbolFamily } from './gateway-metrics.ts';
import type { SessionState, Transaction } from './session-state.ts';
import { SmtpError } from './smtp-error.ts';

export async function runPhase(deps: GatewayDeps, state: SessionState, phase: Phase, tx: Transaction, extra: Partial<CheckContext> = {}): Promise<SymbolHit[]> {
  const snapshot = deps.snapshot();
  const session = phase === 'connect' || phase === 'helo';
  // a session phase run again (new client address or HELO name) replaces the fields it added before
  const headers: [string, string][] = phase === 'connect' || phase === 'helo' ? (state.sessionHeaders[phase] = []) : tx.headers;
  const started = performance.now();
  // session phases run the current checks; a transaction's phases the ones it started with (see Transaction)
  const hits = await runChecks(
    session ? snapshot.checks : tx.checks,
    {
      phase,
      session: state.info,
      envelope: tx.envelope,
      now: deps.clock.now(),
      log: deps.log.child({ session: state.info.id }),
      addHeader: (name, value) => headers.push([name, value]),
      results: tx.results,
      hitsSoFar: [...state.sessionHits, ...tx.hits],
      ...extra,
    },
    {
      defaultTimeoutMs: snapshot.config.checks.timeout,
      trustedClient: state.info.trusted || state.info.authUser !== undefined,
      authenticated: state.info.authUser !== undefined,
      onTiming: (t) => deps.metrics.checkSeconds.observe({ check: t.check, outcome: t.outcome }, t.ms / 1000),
    },
  );
  tx.timings[phase] = (tx.timings[phase] ?? 0) + (performance.now() - started);
  for (const h of hits) deps.metrics.symbols.inc({ family: symbolFamily(h.symbol) });
  return hits;
}

/** Hard policy in the hits refuses the command now; scores wait for the end of DATA. */
export function enforce(deps: GatewayDeps, hits: readonly SymbolHit[], tx: Transaction, phase: Phase): void {
  const verdict = scoreHits(hits, tx.ruleset);
  if (!verdict.hard) return;
  deps.metrics.rejects.inc({ phase, symbol: verdict.decidedBy });
  const err = SmtpError.fromReply(verdict.reply ?? '451 4.3.0 Try again later');
  err.symbol = verdict.decidedBy;
  throw err;
}
