// Judges one message per recipient (thresholds may be overridden per domain or address) and splits the
// recipients: refused as a whole, quarantined, delivered to Junk, delivered.
import { hitsFor, type SymbolHit } from '../checks/types.ts';
import type { Thresholds } from '../scoring/rules-sections.ts';
import { thresholdsFor, type Ruleset } from '../scoring/ruleset.ts';
import { compareSeverity, scoreHits, type Verdict } from '../scoring/scorer.ts';

export interface Decision {
  /** The verdict of the delivered copy (the strictest among its recipients), or of the refusal. */
  verdict: Verdict;
  /** Reply when the whole message is refused. */
  refuse?: string;
  /** Recipients the message is delivered to (empty when every one is quarantined). */
  deliverTo: string[];
  /** Of deliverTo, those whose copy goes to Junk (full-stack). */
  junkRecipients: string[];
  /** Of deliverTo, each recipient's own score and action and the thresholds they were judged by (RFC 5235 spamtest). */
  judged: Array<{ rcpt: string; score: number; action: string; thresholds: Thresholds }>;
  /** Recipients whose copy is quarantined instead, and the verdict written on that copy. */
  quarantine?: { recipients: string[]; verdict: Verdict };
}

const refuses = (v: Verdict): boolean => v.action === 'reject' || v.action === 'tempfail';

/**
 * The message is refused only when every recipient's verdict refuses it. Otherwise a recipient whose verdict
 * is quarantine gets it quarantined, and so does one whose verdict refused when its quarantine threshold is
 * reached too (it is never treated more gently than a recipient at the quarantine score); any other recipient
 * whose verdict refused or said junk gets the copy in Junk.
 */
export function decide(hits: readonly SymbolHit[], ruleset: Ruleset, rcpts: readonly string[]): Decision {
  // hits about one recipient (a rcpt list's) count in that recipient's verdict only
  const perRecipientHits = hits.some((h) => h.rcpt !== undefined);
  const general = scoreHits(perRecipientHits ? hitsFor(hits, undefined) : hits, ruleset);
  const hasOverrides = Object.keys(ruleset.overrides).length > 0;
  const perRcpt = rcpts.map((r) => {
    const thresholds = hasOverrides ? thresholdsFor(ruleset, r) : ruleset.thresholds;
    return { rcpt: r, verdict: hasOverrides || perRecipientHits ? scoreHits(hitsFor(hits, r), ruleset, thresholds) : general, quarantineAt: thresholds.quarantine, thresholds };
  });
  const refusing = perRcpt.filter((p) => refuses(p.verdict));
  if (perRcpt.length > 0 && refusing.length === perRcpt.length) {
    const strictest = refusing.find((p) => p.verdict.action === 'tempfail') ?? refusing[0];
    const verdict = strictest?.verdict ?? general;
    return { verdict, refuse: verdict.reply ?? ruleset.rejectReply, deliverTo: [], junkRecipients: [], judged: [] };
  }
  const quarantined = perRcpt.filter((p) => p.verdict.action === 'quarantine' || (refuses(p.verdict) && !p.verdict.hard && p.quarantineAt !== undefined && p.verdict.score >= p.quarantineAt));
  const delivered = perRcpt.filter((p) => !quarantined.includes(p));
  const junkRecipients = delivered.filter((p) => ['junk', 'reject', 'tempfail'].includes(p.verdict.action)).map((p) => p.rcpt);
  // One copy goes to every delivered recipient: it is tagged (result header, subject) with the strictest of
  // their verdicts, whatever the recipients' order, so no recipient's tagging is lost; in full-stack mode
  // each recipient's own verdict still picks INBOX or Junk (junkRecipients).
  const accepted = delivered.filter((p) => !refuses(p.verdict));
  const strictest = accepted.reduce<(typeof accepted)[number] | undefined>((best, p) => (!best || compareSeverity(p.verdict.action, best.verdict.action) < 0 ? p : best), undefined);
  const judged = delivered.map((p) => ({ rcpt: p.rcpt, score: p.verdict.score, action: p.verdict.action, thresholds: p.thresholds }));
  const decision: Decision = { verdict: strictest?.verdict ?? general, deliverTo: delivered.map((p) => p.rcpt), junkRecipients, judged };
  const first = quarantined[0];
  if (first) {
    const v = first.verdict;
    const decidedBy = v.action === 'quarantine' ? v.decidedBy : `quarantine >= ${first.quarantineAt ?? ''} (${v.decidedBy})`;
    const verdict: Verdict = { ...v, action: 'quarantine', decidedBy };
    delete verdict.reply;
    decision.quarantine = { recipients: quarantined.map((p) => p.rcpt), verdict };
  }
  return decision;
}
