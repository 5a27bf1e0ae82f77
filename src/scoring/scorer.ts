// Turns symbol hits into a verdict: score = Σ weight × factor, action from thresholds or hard policy.
import type { SymbolHit } from '../checks/types.ts';
import type { Thresholds, Weight } from './rules-sections.ts';
import type { Ruleset } from './ruleset.ts';

export type Action = 'accept' | 'add_header' | 'rewrite_subject' | 'junk' | 'quarantine' | 'tempfail' | 'reject';

/** Actions from most to least severe: the first threshold reached decides. */
const SEVERITY: readonly Exclude<Action, 'accept'>[] = ['reject', 'tempfail', 'quarantine', 'junk', 'rewrite_subject', 'add_header'];

/** Orders actions from the strictest: reject first, accept last (negative when `a` is stricter). */
export function compareSeverity(a: Action, b: Action): number {
  const rank = (x: Action): number => (x === 'accept' ? SEVERITY.length : SEVERITY.indexOf(x));
  return rank(a) - rank(b);
}

export interface ScoredSymbol {
  symbol: string;
  /** Score contributed (0 for hard-policy symbols). */
  score: number;
  weight: Weight;
  options: string[];
}

export interface Verdict {
  action: Action;
  score: number;
  symbols: ScoredSymbol[];
  /** What decided: a threshold name ("reject >= 15") or a hard-policy symbol. */
  decidedBy: string;
  /** SMTP reply for reject/tempfail ("550 5.7.1 text"). */
  reply?: string;
  /** Decided by a hard-policy symbol (acts in the phase that hit), not by a score threshold. */
  hard?: boolean;
}

/** Scores hits; unknown symbols count 0 (start-up ensures every emitted symbol is defined). */
export function scoreHits(hits: readonly SymbolHit[], ruleset: Ruleset, thresholds: Thresholds = ruleset.thresholds): Verdict {
  const merged = mergeHits(hits);
  let total = 0;
  let hard: { action: 'reject' | 'tempfail'; symbol: string; reply?: string } | undefined;
  // a symbol weighing `quarantine` (policy, e.g. VIRUS_FOUND for an administrator who keeps viruses): its name
  let quarantineBy: string | undefined;
  const symbols: ScoredSymbol[] = [];
  for (const hit of merged) {
    const def = ruleset.symbols.get(hit.symbol);
    const weight = def?.weight ?? 0;
    const factor = hit.factor ?? 1;
    let score = 0;
    if (typeof weight === 'number') {
      score = round(weight * factor);
      total += score;
    } else if (weight === 'quarantine') {
      quarantineBy ??= hit.symbol;
    } else if (!hard || (hard.action === 'tempfail' && weight === 'reject')) {
      hard = { action: weight, symbol: hit.symbol, ...(def?.reply ? { reply: expandReply(def.reply, hit.replyOptions ?? hit.options ?? []) } : {}) };
    }
    symbols.push({ symbol: hit.symbol, score, weight, options: hit.options ?? [] });
  }
  total = round(total);
  if (hard) {
    const reply = hard.reply ?? (hard.action === 'reject' ? ruleset.rejectReply : ruleset.tempfailReply);
    return { action: hard.action, score: total, symbols, decidedBy: hard.symbol, reply, hard: true };
  }
  // policy before score: not hard (nothing is refused in the phase that hit), decided at the end of DATA
  if (quarantineBy !== undefined) return { action: 'quarantine', score: total, symbols, decidedBy: quarantineBy };
  for (const action of SEVERITY) {
    const limit = thresholds[action];
    if (limit !== undefined && total >= limit) {
      const verdict: Verdict = { action, score: total, symbols, decidedBy: `${action} >= ${limit}` };
      if (action === 'reject') verdict.reply = ruleset.rejectReply;
      if (action === 'tempfail') verdict.reply = ruleset.tempfailReply;
      return verdict;
    }
  }
  return { action: 'accept', score: total, symbols, decidedBy: 'below all thresholds' };
}

/** The same symbol hit twice keeps the strongest factor and all options. */
function mergeHits(hits: readonly SymbolHit[]): SymbolHit[] {
  const bySymbol = new Map<string, SymbolHit>();
  for (const hit of hits) {
    const prev = bySymbol.get(hit.symbol);
    if (!prev) {
      bySymbol.set(hit.symbol, { ...hit, options: [...(hit.options ?? [])] });
      continue;
    }
    if (Math.abs(hit.factor ?? 1) > Math.abs(prev.factor ?? 1)) prev.factor = hit.factor;
    for (const o of hit.options ?? []) if (!prev.options?.includes(o)) prev.options?.push(o);
  }
  return [...bySymbol.values()];
}

/** A reply may name the deciding hit's options ("{options}": list name, code, TXT reason...). */
function expandReply(reply: string, options: readonly string[]): string {
  if (!reply.includes('{options}')) return reply;
  const text = options.map((o) => o.replace(/[^\x20-\x7e]/g, '?')).join(', ').slice(0, 300);
  // a function, so that $& or $' in an option (a virus name, a TXT reason) is written as it is, not as a pattern
  return reply.replace('{options}', () => text);
}

const round = (n: number): number => Math.round(n * 100) / 100;
