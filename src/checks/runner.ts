// Runs the checks of one phase concurrently, each under its time budget; a throw or timeout becomes a symbol.
// Late checks (meta rules) run once the others are done, seeing their hits; 'first' ones before the other
// late checks, 'last' ones after them all.
import type { Logger } from '../util/logger.ts';
import type { Check, CheckContext, Phase, SymbolHit } from './types.ts';

/** Symbols the runner itself emits (defined in rules/core.yaml). */
export const RUNNER_SYMBOLS = ['CHECK_ERROR', 'CHECK_TIMEOUT'] as const;

/** How long an aborted check may take to hand back its own result. */
const ABORT_GRACE_MS = 20;

export type CheckTiming = { check: string; ms: number; outcome: 'ok' | 'error' | 'timeout' };

export interface RunOptions {
  defaultTimeoutMs: number;
  /** Trusted-network or authenticated client: checks with skipTrusted are not run. */
  trustedClient: boolean;
  /** Authenticated client: outbound checks run anyway (outbound spam check). */
  authenticated?: boolean;
  onTiming?: (t: CheckTiming & { phase: Phase }) => void;
}

type ContextBase = Omit<CheckContext, 'signal' | 'log'> & { log: Logger };

export async function runChecks(checks: readonly Check[], base: ContextBase, opts: RunOptions): Promise<SymbolHit[]> {
  const skipped = (c: Check): boolean => opts.trustedClient && c.skipTrusted !== false && !(opts.authenticated && c.outbound);
  const selected = checks.filter((c) => c.phase === base.phase && !skipped(c));
  const early = (await Promise.all(selected.filter((c) => !c.late).map((check) => runOne(check, base, opts)))).flat();
  let hits = early;
  for (const stage of ['first', true, 'last'] as const) {
    const late = selected.filter((c) => c.late === stage);
    if (late.length === 0) continue;
    const after = { ...base, hitsSoFar: [...base.hitsSoFar, ...hits], phaseHits: hits };
    hits = [...hits, ...(await Promise.all(late.map((check) => runOne(check, after, opts)))).flat()];
  }
  return hits;
}

async function runOne(check: Check, base: ContextBase, opts: RunOptions): Promise<SymbolHit[]> {
  const budget = check.timeoutMs ?? opts.defaultTimeoutMs;
  const controller = new AbortController();
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      // Give a check that answers the abort (e.g. with a *_TEMPERROR symbol) its turn before
      // declaring the timeout: a DNS timeout must stay a temperror, never become a clean pass.
      setTimeout(() => resolve('timeout'), ABORT_GRACE_MS);
    }, budget);
  });
  const log = base.log.child({ check: check.name });
  const report = (outcome: CheckTiming['outcome']): void =>
    opts.onTiming?.({ phase: base.phase, check: check.name, ms: performance.now() - started, outcome });
  try {
    const result = await Promise.race([Promise.resolve().then(() => check.run({ ...base, log, signal: controller.signal })), timeout]);
    if (result === 'timeout') {
      log.warn('check timed out', { budgetMs: budget });
      report('timeout');
      return [{ symbol: 'CHECK_TIMEOUT', options: [check.name] }];
    }
    report('ok');
    return result;
  } catch (err) {
    log.error('check failed', { err });
    report('error');
    return [{ symbol: 'CHECK_ERROR', options: [check.name] }];
  } finally {
    clearTimeout(timer);
  }
}
