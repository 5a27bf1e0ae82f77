// End of DATA: read the message (bounded), run data checks, judge per recipient, add the result
// headers, then hand over — durably to the quarantine, the spool or through to the next hop — before replying.
import { reputationHeaderOf } from '../checks/reputation.ts';
import { REPUTATION_HEADER } from '../reputation/keys.ts';
import type { SMTPServerDataStream } from 'smtp-server';
import type { MessageView } from '../checks/types.ts';
import { RECEIPT_AUTH_KEY } from '../checks/dkim-dmarc.ts';
import { ANTIVIRUS_RESULT_KEY } from '../checks/antivirus.ts';
import type { ScanOutcome } from '../antivirus/scanner.ts';
import { spamtestValues, virustestValue } from '../sieve/spamtest.ts';
import type { NextHopReply, QueueEnvelope, QueuedVerdict, ReceiptAuth } from '../queue/types.ts';
import type { QuarantineEnvelope } from '../quarantine/format.ts';
import { foldHeader, formatResultHeader } from '../scoring/explain.ts';
import type { Action, Verdict } from '../scoring/scorer.ts';
import type { GatewayDeps, GatewaySnapshot } from './gateway-types.ts';
import { dsnEnvelopeFields } from './esmtp-params.ts';
import { headerEnd } from './message-view.ts';
import type { Decision } from './recipient-verdicts.ts';
import type { SessionState, Transaction } from './session-state.ts';
import { insufficientStorage } from './smtp-error.ts';
import { receivedHeader, rewriteSubject } from './trace-headers.ts';
import { isHostName } from './next-hop-xforward.ts';
import { judgeMessage, logTransaction, type DataPhaseContext, type DataReply } from './data-judge.ts';

export type { DataPhaseContext, DataReply } from './data-judge.ts';

/** Authentication-Results longer than this are not kept for an ARC seal (the copy goes unsealed: `no_results`). */
const MAX_KEPT_AUTH_RESULTS = 16 * 1024;

export async function finishData(stream: SMTPServerDataStream, state: SessionState, tx: Transaction, ctx: DataPhaseContext): Promise<DataReply> {
  const { deps } = ctx;
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    // smtp-server stops counting past the limit but keeps reading; we keep nothing past it.
    if (!stream.sizeExceeded) chunks.push(chunk);
  }
  const judged = await judgeMessage(Buffer.concat(chunks), bytes, stream.sizeExceeded, state, tx, ctx);
  if (judged.kind === 'refused') return judged.reply;
  const { view, decision, started } = judged;
  let raw = judged.raw;
  const verdict = decision.verdict;
  // The quarantined recipients' copy is stored first: when that fails nothing has gone anywhere yet.
  let quarantineId: string | undefined;
  if (decision.quarantine) {
    const stored = await storeQuarantined(deps, ctx.snapshot, state, tx, raw, view, decision.quarantine);
    if (!('id' in stored)) {
      deps.metrics.transactions.inc({ listener: deps.name, action: 'no_space' });
      logTransaction(deps, state, tx, decision.quarantine.verdict, bytes, `${stored.code} ${stored.enhanced} ${stored.text}`);
      return stored;
    }
    quarantineId = stored.id;
  }
  let reply: DataReply;
  // a refusal is the next hop's, or the spool's when it ran out of space
  let refused = 'next_hop_refused';
  let action: Action = verdict.action;
  if (decision.deliverTo.length === 0 && decision.quarantine && quarantineId !== undefined) {
    // Every recipient's copy is quarantined, durably: acknowledged as queued (RFC 5321 §4.1.1.4, §6.1).
    reply = { code: 250, enhanced: '2.0.0', text: `Ok: queued as ${quarantineId}` };
    action = 'quarantine';
  } else {
    if (verdict.action === 'rewrite_subject' || verdict.action === 'junk') raw = rewriteSubject(raw, tx.ruleset.subjectPrefix, headerEnd(raw));
    raw = await signOutgoing(deps, ctx.snapshot, state, tx, raw);
    const message = Buffer.concat([Buffer.from(traceBlock(state, tx, verdict, deps), 'utf8'), raw]);
    const envelope = envelopeOf(deps, state, tx, decision.deliverTo, { action: verdict.action, score: verdict.score, junkRecipients: decision.junkRecipients, ...sieveTests(state, tx, decision) });
    // the quarantined copy of a transaction the client is not told is done would come again: a duplicate
    const withdraw = async (): Promise<void> => {
      if (quarantineId !== undefined) await deps.quarantine?.withdraw(quarantineId);
    };
    try {
      if (ctx.snapshot.config.delivery.mode === 'inline' && deps.inline) {
        const next: NextHopReply = await deps.inline.forward(envelope, message);
        reply = { code: next.code, enhanced: next.enhanced ?? (next.code < 300 ? '2.0.0' : next.code < 500 ? '4.0.0' : '5.0.0'), text: next.text };
      } else if (deps.sink) {
        const sink = deps.sink;
        reply = await durably(deps, state, message.length, 'spool', async () => `Ok: queued as ${(await sink.enqueue(envelope, message)).id}`);
        refused = 'no_space';
      } else {
        reply = { code: 451, enhanced: '4.3.0', text: 'No delivery configured, try again later' };
      }
    } catch (err) {
      await withdraw();
      throw err;
    }
    if (reply.code >= 300) await withdraw();
  }
  deps.metrics.transactions.inc({ listener: deps.name, action: reply.code < 300 ? action : refused });
  deps.metrics.processing.observe({ listener: deps.name }, (performance.now() - started) / 1000);
  logTransaction(deps, state, tx, verdict, bytes, `${reply.code} ${reply.enhanced} ${reply.text}`, decision.quarantine && quarantineId !== undefined ? { rcpts: decision.quarantine.recipients, id: quarantineId } : undefined);
  if (reply.code < 300) deps.onFinal?.({ action, message: raw, session: state.info, envelope: tx.envelope, results: tx.results });
  if (reply.code < 300) deps.onVerdict?.({ verdict: action === 'quarantine' && decision.quarantine ? decision.quarantine.verdict : verdict, message: raw, session: state.info, envelope: tx.envelope, results: tx.results });
  return reply;
}

/**
 * RFC 5235: the spamtest values of each delivered recipient from their own score and thresholds, and the
 * virustest value of the scan, for users' Sieve scripts at local delivery. Mail from an authenticated or trusted
 * client skips most checks: its score is no spam test, so it has none ("0", not tested).
 */
function sieveTests(state: SessionState, tx: Transaction, decision: Decision): Pick<QueuedVerdict, 'spamtest' | 'virustest'> {
  const scan = tx.results.get(ANTIVIRUS_RESULT_KEY) as ScanOutcome | undefined;
  const virustest = virustestValue(scan?.result);
  const untested = state.info.authUser !== undefined || state.info.trusted === true;
  const spamtest = untested ? undefined : Object.fromEntries(decision.judged.map((j) => [j.rcpt, spamtestValues(j.score, j.thresholds, j.action)]));
  return { ...(spamtest ? { spamtest } : {}), ...(virustest !== undefined ? { virustest } : {}) };
}

/**
 * The client's host name as spamgate knows it: the one XCLIENT/XFORWARD NAME gave, else a forward-confirmed
 * reverse DNS name (as other MTAs write it). Named in the Received field and told to the upstream (XFORWARD NAME).
 */
function clientNameOf(state: SessionState): string | undefined {
  if (state.info.clientHostname !== undefined) return state.info.clientHostname;
  // a PTR answer may hold any octets and its owner can confirm it forward too: only a host name names the client
  // (in Received, to the upstream, as Sieve's remote-host), as Postfix calls a client with any other name unknown
  const confirmed = state.sessionHits.find((h) => h.symbol === 'RDNS_FCRDNS_PASS')?.options?.[0];
  return confirmed !== undefined && isHostName(confirmed) ? confirmed : undefined;
}

/** The spool's envelope for these recipients of the transaction (their DSN requests only). */
function envelopeOf(deps: GatewayDeps, state: SessionState, tx: Transaction, rcptTo: readonly string[], verdict: QueuedVerdict): QueueEnvelope {
  const dsn = dsnEnvelopeFields(tx.dsn);
  if (dsn.rcptDsn) dsn.rcptDsn = Object.fromEntries(Object.entries(dsn.rcptDsn).filter(([r]) => rcptTo.includes(r)));
  const envelope: QueueEnvelope = {
    mailFrom: tx.envelope.mailFrom,
    rcptTo: [...rcptTo],
    sessionId: state.info.id,
    clientIp: state.info.clientIp,
    client: {
      ...(state.info.clientPort ? { port: state.info.clientPort } : {}),
      ...(clientNameOf(state) ? { name: clientNameOf(state) } : {}),
      ...(state.info.helo ? { helo: state.info.helo } : {}),
      esmtp: state.info.esmtp === true,
    },
    receivedAt: deps.clock.now(),
    verdict,
    ...dsn,
    // RFC 6531 §3.4: an SMTPUTF8 message stays one on the way on (and its notices are RFC 6533 ones).
    ...(tx.envelope.smtputf8 ? { smtputf8: true } : {}),
  };
  if (state.info.authUser !== undefined) envelope.authUser = state.info.authUser;
  // our own mail going out (as for DKIM signing): its sender gets a BATV tag when it is handed on (batv.ts)
  if (state.info.authUser !== undefined || state.info.trusted) envelope.outgoing = true;
  // kept for the ARC set of a copy forwarded later (RFC 8617 §4.1.1: the AAR holds the results of our receipt)
  // (bounded: a message with hundreds of DKIM signatures has results no seal should copy)
  const auth = tx.results.get(RECEIPT_AUTH_KEY) as ReceiptAuth | undefined;
  if (auth && auth.results.length <= MAX_KEPT_AUTH_RESULTS) envelope.auth = auth;
  return envelope;
}

/**
 * The quarantined recipients' copy: not subject-tagged (a released message reaches the inbox as it came), with
 * the result header of their verdict, and the metadata `spamgate quarantine list|show` print.
 */
async function storeQuarantined(deps: GatewayDeps, snapshot: GatewaySnapshot, state: SessionState, tx: Transaction, raw: Buffer, view: MessageView, q: NonNullable<Decision['quarantine']>): Promise<{ id: string } | DataReply> {
  const quarantine = deps.quarantine;
  if (!quarantine) return { code: 451, enhanced: '4.3.0', text: 'Quarantine not available, try again later' };
  const signed = await signOutgoing(deps, snapshot, state, tx, raw);
  const message = Buffer.concat([Buffer.from(traceBlock(state, tx, q.verdict, deps), 'utf8'), signed]);
  const subject = view.header('subject');
  const envelope: QuarantineEnvelope = {
    ...envelopeOf(deps, state, tx, q.recipients, { action: 'quarantine', score: q.verdict.score }),
    quarantine: {
      score: q.verdict.score,
      decidedBy: q.verdict.decidedBy,
      symbols: q.verdict.symbols,
      ...(subject !== undefined ? { subject: subject.replace(/[\x00-\x1f\x7f]/g, ' ').trim().slice(0, 200) } : {}),
    },
  };
  let id = '';
  const reply = await durably(deps, state, message.length, 'quarantine', async () => {
    id = await quarantine.store(envelope, message);
    return `Ok: quarantined as ${id}`;
  });
  return reply.code < 300 ? { id } : reply;
}

/** File system errors that mean "no room now" (the spool's disk or the user's disk quota is full). */
const NO_SPACE = new Set(['ENOSPC', 'EDQUOT']);

/**
 * Durably into the spool or the quarantine; one out of space (it removes what it wrote) answers 452 4.3.1 (RFC 5321
 * §4.2.3, RFC 3463 §3.4) so the client keeps the message and tries again. Other errors go on to the generic 451.
 */
async function durably(deps: GatewayDeps, state: SessionState, size: number, where: 'spool' | 'quarantine', write: () => Promise<string>): Promise<DataReply> {
  try {
    return { code: 250, enhanced: '2.0.0', text: await write() };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === undefined || !NO_SPACE.has(code)) throw err;
    deps.metrics.insufficientStorage.inc({ phase: 'data' });
    deps.log.error('out of space, message refused with 452', { session: state.info.id, size, code, where });
    const reply = insufficientStorage();
    return { code: reply.code, enhanced: reply.enhanced, text: reply.text };
  }
}

/**
 * DKIM-signs a message from an authenticated client (when its From is the user's own) or a trusted network
 * (RFC 6376 §5) once it is final, below our own trace block. A signing failure sends the message unsigned (logged, counted): it is never lost for it.
 */
async function signOutgoing(deps: GatewayDeps, snapshot: GatewaySnapshot, state: SessionState, tx: Transaction, raw: Buffer): Promise<Buffer> {
  const signer = snapshot.dkim;
  if (!signer || (!state.info.trusted && state.info.authUser === undefined)) return raw;
  // An authenticated user's message is signed only when its From is theirs: the signature vouches for it in our name.
  const user = state.info.authUser;
  const authenticator = deps.authenticator;
  const mayUseFrom = user !== undefined && authenticator ? (address: string): boolean => authenticator.ownsAddress(user, address) : undefined;
  const outcome = await signer.sign(raw, deps.clock.now(), mayUseFrom);
  if (outcome.status === 'not_signed') return raw;
  if (outcome.status === 'not_own_from') {
    tx.dkim = `not signed: From <${outcome.address}> is not ${user ?? 'the user'}'s`;
    return raw;
  }
  deps.metrics.dkimSignatures.inc({ domain: outcome.domain, result: outcome.status });
  if (outcome.status === 'failed') {
    tx.dkim = `failed: ${outcome.error}`;
    deps.log.warn('dkim signing failed, sending unsigned', { session: state.info.id, domain: outcome.domain, error: outcome.error });
    return raw;
  }
  tx.dkim = `${outcome.domain} s=${outcome.selector}`;
  return Buffer.concat([Buffer.from(outcome.header, 'latin1'), outcome.message]);
}

function traceBlock(state: SessionState, tx: Transaction, verdict: Verdict, deps: GatewayDeps): string {
  const lines: string[] = [];
  lines.push(foldHeader('X-Spamgate-Result', formatResultHeader(verdict, state.info.id)));
  // the sender reputation keys, sealed, for a report of the message (a Junk move, a quarantine release) to find them
  const sealedKeys = reputationHeaderOf(tx.results);
  if (sealedKeys !== undefined) lines.push(foldHeader(REPUTATION_HEADER, sealedKeys));
  for (const [name, value] of [...state.sessionHeaders.connect, ...state.sessionHeaders.helo, ...tx.headers]) lines.push(`${name}: ${value}\r\n`);
  // RFC 5321 §4.4: the TCP-info may carry the client's name (clientNameOf).
  const received = receivedHeader({
    helo: state.info.helo,
    clientHostname: clientNameOf(state),
    clientIp: state.info.clientIp,
    hostname: deps.hostname,
    secure: state.info.secure,
    authenticated: state.info.authUser !== undefined,
    esmtp: state.info.esmtp !== false,
    smtputf8: tx.envelope.smtputf8,
    id: state.info.id,
    date: new Date(deps.clock.now()),
    ...(tx.envelope.rcptTo.length === 1 ? { forRcpt: tx.envelope.rcptTo[0] } : {}),
  });
  lines.push(`Received: ${received}\r\n`);
  return lines.join('');
}
