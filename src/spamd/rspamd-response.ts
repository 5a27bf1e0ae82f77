// The JSON answer of an rspamd-protocol scan (rspamd's /checkv2 reply): score, required_score, action in
// rspamd's words, every symbol with its weight, description and options, the SMTP text for a refusal, and the
// milter block (headers to add and remove) that Haraka's and Exim's rspamd clients apply.
import type { Ruleset } from '../scoring/ruleset.ts';
import { formatResultHeader } from '../scoring/explain.ts';
import type { Action } from '../scoring/scorer.ts';
import { parseHeaders } from '../smtp/message-view.ts';
import { isSpamgateField } from '../smtp/trace-headers.ts';
import type { Scan } from './judge.ts';

type Scanned = Extract<Scan, { kind: 'scanned' }>;

export type RspamdAction = 'no action' | 'greylist' | 'add header' | 'rewrite subject' | 'soft reject' | 'reject';

/**
 * spamgate's actions in rspamd's words. junk (delivered to the Junk folder, Subject tagged) is "rewrite subject";
 * quarantine (never shown to the recipient) is "reject": an MTA asking over HTTP has no hold, and a refusal is
 * the nearest outcome that keeps the message from the recipient; tempfail (DNS trouble) is "soft reject".
 */
export const RSPAMD_ACTION: Readonly<Record<Action, RspamdAction>> = {
  accept: 'no action',
  add_header: 'add header',
  rewrite_subject: 'rewrite subject',
  junk: 'rewrite subject',
  quarantine: 'reject',
  tempfail: 'soft reject',
  reject: 'reject',
};

/** Two decimals, as rspamd prints its scores. */
const round = (n: number): number => Math.round(n * 100) / 100;

export interface RspamdSymbol {
  name: string;
  score: number;
  metric_score: number;
  description?: string;
  options?: string[];
}

export function rspamdReply(scan: Scanned, ruleset: Ruleset, raw: Buffer, elapsedMs: number): Record<string, unknown> {
  const { verdict } = scan;
  const symbols: Record<string, RspamdSymbol> = {};
  for (const s of verdict.symbols) {
    const description = ruleset.symbols.get(s.symbol)?.description;
    const weight = typeof s.weight === 'number' ? s.weight : 0;
    symbols[s.symbol] = {
      name: s.symbol,
      score: round(s.score),
      metric_score: round(weight),
      ...(description ? { description } : {}),
      ...(s.options.length ? { options: s.options.slice(0, 20).map((o) => o.slice(0, 300)) } : {}),
    };
  }
  const action = RSPAMD_ACTION[verdict.action];
  const addHeaders: Record<string, { value: string; order: number }> = { 'X-Spamgate-Result': { value: formatResultHeader(verdict, scan.sessionId), order: 0 } };
  for (const [name, value] of scan.added) if (!(name in addHeaders)) addHeaders[name] = { value: value.replace(/\r?\n[ \t]*/g, ' '), order: 0 };
  if (scan.spam) addHeaders['X-Spam'] = { value: 'Yes', order: 0 };
  const messageId = parseHeaders(raw, 64 * 1024).find((h) => h.name.toLowerCase() === 'message-id')?.value.trim().replace(/^<|>$/g, '');
  const subject = parseHeaders(raw, 64 * 1024).find((h) => h.name.toLowerCase() === 'subject')?.value.trim() ?? '';
  return {
    is_skipped: false,
    score: round(verdict.score),
    required_score: round(scan.threshold),
    action,
    symbols,
    ...(verdict.reply && (action === 'reject' || action === 'soft reject') ? { messages: { smtp_message: verdict.reply.replace(/^\d{3}(?:[ -]\d\.\d{1,3}\.\d{1,3})?\s*/, '') } } : { messages: {} }),
    ...(action === 'rewrite subject' ? { subject: subject.startsWith(scan.subjectPrefix) ? subject : `${scan.subjectPrefix} ${subject}`.trim() } : {}),
    milter: {
      add_headers: addHeaders,
      // a forged verdict in the message goes: every X-Spamgate-Result and X-Spam field (0: all of them), and every
      // other X-Spamgate-* field it brought (a forged release or reputation seal), as the other listeners remove them
      remove_headers: removeHeaders(raw),
    },
    ...(messageId ? { 'message-id': messageId } : {}),
    time_real: round(elapsedMs / 1000),
    milliseconds: Math.round(elapsedMs),
    // no scan_time: rspamc adds its own (the time it waited), and a second one makes its --json print an array
  };
}

/** Distinct names at most (a header block of thousands of forged names gets the first ones, the verdict's always). */
const MAX_REMOVED_NAMES = 100;

/** rspamd's milter.remove_headers: the verdict fields and every X-Spamgate-* name in the message, each once (0: every instance). */
function removeHeaders(raw: Buffer): Record<string, number> {
  const out: Record<string, number> = { 'X-Spamgate-Result': 0, 'X-Spam': 0 };
  const seen = new Set(Object.keys(out).map((n) => n.toLowerCase()));
  for (const h of parseHeaders(raw)) {
    const lower = h.name.toLowerCase();
    if (seen.size >= MAX_REMOVED_NAMES) break;
    if (!isSpamgateField(h.name) || seen.has(lower)) continue;
    seen.add(lower);
    out[h.name] = 0;
  }
  return out;
}
