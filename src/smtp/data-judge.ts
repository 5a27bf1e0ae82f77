// The judging half of the end of DATA, shared by the SMTP gateway and the milter: size and hop limits, our own
// headers stripped, the data checks, the per-recipient decision; a refusal is counted and logged here.
import type { CheckContext, MessageView, SymbolHit } from '../checks/types.ts';
import type { Verdict } from '../scoring/scorer.ts';
import type { GatewayDeps, GatewaySnapshot } from './gateway-types.ts';
import { toCrlf } from './line-endings.ts';
import { withinLineLimit } from './line-limit.ts';
import { createMessageView, headerEnd } from './message-view.ts';
import { decide, type Decision } from './recipient-verdicts.ts';
import type { SessionState, Transaction } from './session-state.ts';
import { SmtpError } from './smtp-error.ts';
import { claimsAuthServId, countReceived, isSpamgateField, stripHeaders } from './trace-headers.ts';

export interface DataPhaseContext {
  deps: GatewayDeps;
  snapshot: GatewaySnapshot;
  runPhase(extra: Partial<CheckContext>): Promise<SymbolHit[]>;
  /**
   * The SMTP gateway, which queues, signs and sends the message it judges: our own mail with a line over 998
   * octets is mended here, or refused when it cannot be. The milter and spamd judge a message another MTA
   * carries as it is (they never rewrite it), so they refuse nothing for its lines.
   */
  mendsLongLines?: boolean;
}

export interface DataReply {
  code: number;
  enhanced: string;
  text: string;
}

/**
 * A header field of the message that claims to be ours (stripped before the checks read it): any X-Spamgate-* field
 * (a client must not be able to forge a verdict, a reputation seal or a release that Sieve rules or reports trust),
 * and Authentication-Results in our name.
 */
export function isForgedOwnHeader(name: string, value: string, hostname: string): boolean {
  // trimmed: a name with blanks before the colon (RFC 5322 §4.5.3) names the same field, as isSpamgateField reads it
  return isSpamgateField(name) || claimsAuthServId(name.trim().toLowerCase(), value, hostname);
}

const NO_NAMES: ReadonlySet<string> = new Set();

export type Judged =
  | { kind: 'refused'; reply: DataReply }
  /** raw: the message in CRLF without forged own headers; started: when judging began (performance.now()). */
  | { kind: 'judged'; raw: Buffer; view: MessageView; decision: Decision; started: number };

/**
 * Judges a received message. bytes: as many as the client sent (more than `received` holds when it went past
 * the limit); sizeExceeded: the reader stopped keeping bytes at the limit.
 */
export async function judgeMessage(received: Buffer, bytes: number, sizeExceeded: boolean, state: SessionState, tx: Transaction, ctx: DataPhaseContext): Promise<Judged> {
  const { deps } = ctx;
  deps.metrics.bytes.inc(bytes);
  const started = performance.now();
  const limit = ctx.snapshot.config.smtp.max_message_size;
  const refused = (symbol: string, size: number, code: number, enhanced: string, text: string): Judged => {
    countRefused(deps, symbol, started);
    logTransaction(deps, state, tx, undefined, size, `${code} ${enhanced}`);
    return { kind: 'refused', reply: { code, enhanced, text } };
  };
  if (sizeExceeded || bytes > limit) return refused('SIZE_LIMIT', bytes, 552, '5.3.4', `Message size exceeds fixed maximum message size ${limit}`);
  // RFC 5321 §2.3.8: bare CR / LF become CRLF before anything reads, stores or relays the message.
  let raw: Buffer = toCrlf(received);
  if (raw.length > limit) {
    // bare line breaks made CRLF can double the size: what is kept and relayed stays within the SIZE we offer
    return refused('SIZE_LIMIT', raw.length, 552, '5.3.4', `Message size exceeds fixed maximum message size ${limit} (bare line breaks counted as CRLF)`);
  }
  // RFC 5321 §6.3: counting Received fields catches loops that nothing else would (threshold ≥ 100 advised).
  const hops = countReceived(raw, ctx.snapshot.config.smtp.max_hops);
  if (hops >= ctx.snapshot.config.smtp.max_hops) return refused('HOP_LIMIT', bytes, 554, '5.4.6', `Too many hops (${hops} Received header fields): mail loop`);
  raw = stripHeaders(raw, NO_NAMES, headerEnd(raw), (name, value) => isForgedOwnHeader(name, value, deps.hostname));
  if (ctx.mendsLongLines === true && (state.info.authUser !== undefined || state.info.trusted)) {
    // Our own outgoing mail (what we DKIM-sign): no line over 998 octets leaves here (RFC 5322 §2.1.1, line-limit.ts).
    // One that cannot be mended is refused now, while the sender is there to hear it, rather than bounced later:
    // 554 (RFC 5321 §4.2.3) with 5.6.0, "something about the content ... cannot be well expressed" (RFC 3463 §3.7).
    const mended = withinLineLimit(raw);
    if ('refused' in mended) return refused('LINE_LENGTH', bytes, 554, '5.6.0', `Message has a line over 998 octets that cannot be re-encoded: ${mended.refused.replace(/§/g, 'section ').replace(/[^\x20-\x7e]/g, '?')}`);
    // quoted-printable can triple an 8-bit line, base64 adds a third: what is kept and relayed stays within the SIZE
    // we offer (as for bare line breaks above), refused now rather than accepted and bounced by a next hop's limit
    if (mended.message.length > limit) return refused('SIZE_LIMIT', mended.message.length, 552, '5.3.4', `Message size exceeds fixed maximum message size ${limit} (once its lines over 998 octets are re-encoded)`);
    raw = mended.message;
  }
  const view = createMessageView(raw);
  const dataHits = await ctx.runPhase({ message: view });
  const hits = [...state.sessionHits, ...tx.hits, ...dataHits];
  const decision = decide(hits, tx.ruleset, tx.envelope.rcptTo);
  const verdict = decision.verdict;
  deps.metrics.score.observe(verdict.score);
  if (decision.refuse) {
    const reply = SmtpError.fromReply(decision.refuse);
    deps.metrics.transactions.inc({ listener: deps.name, action: verdict.action });
    deps.metrics.rejects.inc({ phase: 'data', symbol: verdict.hard ? verdict.decidedBy : 'SCORE' });
    deps.metrics.processing.observe({ listener: deps.name }, (performance.now() - started) / 1000);
    logTransaction(deps, state, tx, verdict, bytes, reply.toString());
    if (verdict.action === 'reject') deps.onFinal?.({ action: 'reject', verdict, message: raw, session: state.info, envelope: tx.envelope, results: tx.results });
    return { kind: 'refused', reply: { code: reply.code, enhanced: reply.enhanced, text: reply.text } };
  }
  return { kind: 'judged', raw, view, decision, started };
}

/** A message refused before the checks (size, hops): a rejected transaction like any other, and a reject by that symbol. */
function countRefused(deps: GatewayDeps, symbol: string, started: number): void {
  deps.metrics.transactions.inc({ listener: deps.name, action: 'reject' });
  deps.metrics.rejects.inc({ phase: 'data', symbol });
  deps.metrics.processing.observe({ listener: deps.name }, (performance.now() - started) / 1000);
}

/** One JSON line per transaction (ARCHITECTURE convention 7). */
export function logTransaction(deps: GatewayDeps, state: SessionState, tx: Transaction, verdict: Verdict | undefined, size: number, reply: string, quarantined?: { rcpts: string[]; id: string }): void {
  deps.log.info('transaction', {
    session: state.info.id,
    listener: deps.name,
    client_ip: state.info.clientIp,
    client_name: state.info.clientHostname,
    helo: state.info.helo,
    auth_user: state.info.authUser,
    from: tx.envelope.mailFrom,
    rcpts: tx.envelope.rcptTo,
    refused_rcpts: tx.refused,
    size,
    action: verdict?.action ?? 'reject',
    score: verdict?.score,
    decided_by: verdict?.decidedBy ?? 'SIZE_LIMIT',
    symbols: verdict?.symbols.map((s) => ({ s: s.symbol, score: typeof s.weight === 'number' ? s.score : s.weight, o: s.options })),
    reply,
    ...(tx.dkim ? { dkim: tx.dkim } : {}),
    ...(quarantined ? { quarantined: quarantined.rcpts, quarantine_id: quarantined.id } : {}),
    timings_ms: Object.fromEntries(Object.entries(tx.timings).map(([k, v]) => [k, Math.round(v * 10) / 10])),
    total_ms: deps.clock.now() - tx.startedAt,
  });
}
