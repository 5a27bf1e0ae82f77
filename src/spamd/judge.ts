// Judges one message of a spamc request (or an rspamd-protocol HTTP scan) through the gateway's own pipeline: the
// connect, HELO and MAIL checks when the topmost Received field (envelope.ts) or the HTTP request's headers
// name the client, then the data phase of src/smtp/data-judge.ts
// (our own fields stripped, the data checks), scored with the thresholds of the request's User when that is an
// address at a local domain. Nothing is delivered, queued or learned: no autolearn, reputation history or DMARC
// report (a message may be scanned more than once, by several users' procmail).
import { randomBytes } from 'node:crypto';
import type { SessionInfo, SymbolHit } from '../checks/types.ts';
import { POLICY_CHECKS, type CheckName } from '../checks/names.ts';
import type { SpamdConfig } from '../config/sections/spamd.ts';
import type { Thresholds } from '../scoring/rules-sections.ts';
import { thresholdsFor } from '../scoring/ruleset.ts';
import { scoreHits, type Verdict } from '../scoring/scorer.ts';
import { judgeMessage, logTransaction } from '../smtp/data-judge.ts';
import { trustedNetworks } from '../smtp/gateway.ts';
import type { GatewayDeps, GatewaySnapshot } from '../smtp/gateway-types.ts';
import { parseHeaders } from '../smtp/message-view.ts';
import { runPhase } from '../smtp/phase-runner.ts';
import type { SessionState, Transaction } from '../smtp/session-state.ts';
import { envelopeFromHeaders, type EnvelopeFacts } from './envelope.ts';

/** Checks of an SMTP transaction, not of a message: policy (relay, recipients, rates), greylisting, BATV tags. */
const NOT_FOR_SCANS: ReadonlySet<CheckName> = new Set<CheckName>([...POLICY_CHECKS, 'greylist', 'batv']);
/** Checks that read the client address in the data phase: left out when the address is not known. */
const NEEDS_CLIENT: ReadonlySet<CheckName> = new Set<CheckName>(['reputation']);

export interface ScanRequest {
  /** The message as the checks read it (an mbox "From " line taken off). */
  raw: Buffer;
  /** The request's User header when it is an address at one of our domains (its thresholds apply). */
  user?: string;
  /** For the log line: spamc's command and User header, and the connecting peer. */
  command: string;
  peer: string;
  userHeader?: string;
  /**
   * The envelope as the client gave it (the rspamd HTTP protocol's IP, Helo and From headers): used instead of the
   * Received field; `facts` undefined when the client gave no address.
   */
  envelope?: { facts: EnvelopeFacts | undefined };
  /** The envelope recipients the client named (logged; the verdict stays the client's to apply). */
  rcpts?: readonly string[];
  /** The user the client authenticated (logged). */
  authUser?: string;
  /** The protocol, for the log line: "spamd" (default) or "rspamd-http". */
  via?: string;
}

export type Scan =
  | {
      kind: 'scanned';
      verdict: Verdict;
      spam: boolean;
      threshold: number;
      sessionId: string;
      /** Fields the checks added (Authentication-Results, Received-SPF), in order. */
      added: [string, string][];
      subjectPrefix: string;
      /** What was known of the envelope. */
      envelope: EnvelopeFacts | undefined;
    }
  | { kind: 'refused'; text: string };

/** The action order from the mildest: a threshold not set falls back to the next stricter one, then to milder ones. */
const ORDER = ['add_header', 'rewrite_subject', 'junk', 'quarantine', 'reject'] as const;

/** The score at which a message is "Spam: True" (1000 when no threshold is set at all). */
export function spamThreshold(t: Thresholds, action: SpamdConfig['spam_action']): number {
  const at = ORDER.indexOf(action);
  for (const a of [...ORDER.slice(at), ...ORDER.slice(0, at).reverse()]) {
    const v = t[a];
    if (v !== undefined) return v;
  }
  return 1000;
}

export async function scanMessage(deps: GatewayDeps, spamd: SpamdConfig, req: ScanRequest): Promise<Scan> {
  const snapshot = deps.snapshot();
  const { config, ruleset } = snapshot;
  const facts = req.envelope ? req.envelope.facts : spamd.received === 'top' ? envelopeFromHeaders(parseHeaders(req.raw, 64 * 1024), trustedNetworks(config)) : undefined;
  const checks = snapshot.checks.filter((c) => !NOT_FOR_SCANS.has(c.name) && (facts !== undefined || !NEEDS_CLIENT.has(c.name)));
  // The size limit is spamd.max_size (enforced on Content-length); bare LFs made CRLF may double it.
  const scanSnapshot: GatewaySnapshot = { ...snapshot, checks, config: { ...config, smtp: { ...config.smtp, max_message_size: spamd.max_size * 2 + 1024 } } };
  // spamd hands nothing on: no spool, next hop or quarantine, and no learning from verdicts
  const { onVerdict: _v, onFinal: _f, sink: _s, inline: _i, quarantine: _q, freeSpace: _fs, ...rest } = deps;
  const sessionId = randomBytes(8).toString('hex');
  const d: GatewayDeps = { ...rest, name: 'spamd', snapshot: () => scanSnapshot, log: deps.log.child({ session: sessionId }) };
  const info: SessionInfo = {
    id: sessionId,
    clientIp: facts?.clientIp ?? '0.0.0.0',
    clientPort: 0,
    secure: false,
    trusted: false,
    submission: false,
    localIp: '127.0.0.1',
    localPort: 0,
    esmtp: true,
    ...(facts?.helo ? { helo: facts.helo } : {}),
    ...(facts?.clientHostname ? { clientHostname: facts.clientHostname } : {}),
    ...(req.authUser !== undefined ? { authUser: req.authUser } : {}),
  };
  const state: SessionState = { info, sessionHits: [], sessionHeaders: { connect: [], helo: [] }, transactions: 0, openedAt: deps.clock.now() };
  const tx: Transaction = {
    envelope: { mailFrom: facts?.mailFrom ?? '', rcptTo: [], smtputf8: false, body8bit: false },
    hits: [],
    refused: [],
    results: new Map(),
    headers: [],
    startedAt: deps.clock.now(),
    ruleset,
    checks,
    timings: {},
    dsn: { rcptDsn: {} },
  };
  state.tx = tx;
  // the envelope phases only with what they read: the client (connect), its HELO name, the sender (MAIL)
  if (facts) {
    state.sessionHits.push(...(await runPhase(d, state, 'connect', tx)));
    if (facts.helo) state.sessionHits.push(...(await runPhase(d, state, 'helo', tx)));
    if (facts.mailFrom !== undefined) tx.hits.push(...(await runPhase(d, state, 'mail', tx)));
  }
  let dataHits: SymbolHit[] = [];
  // no recipients in the envelope: judgeMessage never refuses by score; the verdict is ours below
  const judged = await judgeMessage(req.raw, req.raw.length, false, state, tx, {
    deps: d,
    snapshot: scanSnapshot,
    runPhase: async (extra) => (dataHits = await runPhase(d, state, 'data', tx, extra)),
  });
  if (judged.kind === 'refused') return { kind: 'refused', text: `${judged.reply.code} ${judged.reply.enhanced} ${judged.reply.text}` };
  const thresholds = req.user ? thresholdsFor(ruleset, req.user) : ruleset.thresholds;
  const verdict = scoreHits([...state.sessionHits, ...tx.hits, ...dataHits], ruleset, thresholds);
  const threshold = spamThreshold(thresholds, spamd.spam_action);
  // a symbol weighing reject or quarantine (policy, e.g. VIRUS_FOUND) makes it spam whatever the score; such a
  // verdict is decided by the symbol's name, a score threshold by "action >= N"
  const byPolicy = (verdict.action === 'reject' || verdict.action === 'quarantine') && !verdict.decidedBy.includes(' >= ');
  const spam = verdict.score >= threshold || byPolicy;
  d.metrics.transactions.inc({ listener: 'spamd', action: verdict.action });
  d.metrics.processing.observe({ listener: 'spamd' }, (performance.now() - judged.started) / 1000);
  if (req.rcpts?.length) tx.envelope.rcptTo = [...req.rcpts];
  else if (req.user) tx.envelope.rcptTo = [req.user];
  logTransaction(d, state, tx, verdict, req.raw.length, `${req.via ?? 'spamd'} ${req.command}: ${spam ? 'spam' : 'ham'} ${verdict.score}/${threshold} (peer ${req.peer}${req.userHeader !== undefined ? `, user ${req.userHeader}` : ''})`);
  return {
    kind: 'scanned',
    verdict,
    spam,
    threshold,
    sessionId,
    added: [...state.sessionHeaders.connect, ...state.sessionHeaders.helo, ...tx.headers],
    subjectPrefix: ruleset.subjectPrefix,
    envelope: facts,
  };
}
