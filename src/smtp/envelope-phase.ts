// MAIL FROM and RCPT TO for one session: opens the transaction (limits, submission sender rules,
// connect/helo/mail checks) and adds each recipient (recipient limit, rcpt checks, DSN requests).
import type { SMTPServerAddress } from 'smtp-server';
import { plainRecipient } from '../batv/batv.ts';
import type { Envelope } from '../checks/types.ts';
import type { Config } from '../config/schema.ts';
import { spaceNeeded } from '../queue/free-space.ts';
import { canonicalMailbox } from './address.ts';
import { readMailParameters, readRcptParameters } from './esmtp-params.ts';
import type { GatewayDeps } from './gateway-types.ts';
import { enforce, runPhase } from './phase-runner.ts';
import type { SessionState, Transaction } from './session-state.ts';
import { LOOPBACK } from './smtp-auth.ts';
import { insufficientStorage, SmtpError } from './smtp-error.ts';

export async function startTransaction(deps: GatewayDeps, state: SessionState, address: SMTPServerAddress, submission: boolean): Promise<void> {
  const snapshot = deps.snapshot();
  if (state.transactions >= snapshot.config.smtp.max_transactions_per_session) {
    throw new SmtpError(421, '4.7.0', 'Too many messages in this session, reconnect');
  }
  if (submission && state.info.authUser === undefined) {
    // RFC 3207 §4: AUTH is not offered off loopback without TLS (RFC 4954 §4), so what the client must do
    // first is STARTTLS — when we offer it.
    const needsTls = deps.tls !== undefined && snapshot.config.smtp.auth.enabled && !state.info.secure && !LOOPBACK.has(state.info.clientIp);
    if (needsTls) throw new SmtpError(530, '5.7.0', 'Must issue a STARTTLS command first');
    throw new SmtpError(530, '5.7.0', 'Authentication required');
  }
  const { ret, envid, declaredSize, ...flags } = readMailParameters(address);
  // RFC 1870 §6.1: a declared size over the limit is refused at MAIL. smtp-server checks the limit it was started
  // with (what EHLO advertises); a reload may have lowered it since, and the message would only be refused after DATA.
  const limit = snapshot.config.smtp.max_message_size;
  if (declaredSize !== undefined && declaredSize > limit) throw new SmtpError(552, '5.3.4', `Message size exceeds fixed maximum message size ${limit}`);
  refuseWithoutSpace(deps, declaredSize, limit);
  const envelope: Envelope = { mailFrom: address.address, rcptTo: [], ...flags, ...(declaredSize !== undefined ? { declaredSize } : {}) };
  const dsn = { ...(ret ? { ret } : {}), ...(envid !== undefined ? { envid } : {}), rcptDsn: {} };
  const tx: Transaction = { envelope, hits: [], refused: [], results: new Map(), headers: [], startedAt: deps.clock.now(), ruleset: snapshot.ruleset, checks: snapshot.checks, timings: {}, dsn };
  state.tx = tx;
  // An authenticated client sends as one of its own addresses, on either listener (its mail may be DKIM-signed in our name).
  if (state.info.authUser !== undefined && deps.authenticator && address.address !== '' && !deps.authenticator.ownsAddress(state.info.authUser, address.address)) {
    throw new SmtpError(553, '5.7.1', `Sender address <${address.address}> not owned by user ${state.info.authUser}`);
  }
  // Connect and HELO checks run once per client address / HELO name, before the first MAIL
  // (as Postfix's smtpd_delay_reject), so XCLIENT-presented addresses are the ones checked.
  if (state.connectCheckedFor !== state.info.clientIp) {
    state.sessionHits = state.sessionHits.filter((h) => h.symbol === 'PREGREET');
    state.sessionHits.push(...(await runPhase(deps, state, 'connect', tx)));
    state.connectCheckedFor = state.info.clientIp;
    state.heloCheckedFor = undefined;
  }
  if (state.heloCheckedFor !== (state.info.helo ?? '')) {
    // a new HELO name (EHLO again after RSET): the hits about the old one no longer apply
    const stale = new Set(state.heloHits ?? []);
    const fresh = await runPhase(deps, state, 'helo', tx);
    state.sessionHits = [...state.sessionHits.filter((h) => !stale.has(h)), ...fresh];
    state.heloHits = fresh;
    state.heloCheckedFor = state.info.helo ?? '';
  }
  enforce(deps, state.sessionHits, tx, 'connect');
  const hits = await runPhase(deps, state, 'mail', tx);
  enforce(deps, hits, tx, 'mail');
  tx.hits.push(...hits);
}

/**
 * RFC 1870 §6.1 and RFC 5321 §4.2.3: a message that does not fit the space available now gets 452 (RFC 3463 §3.4:
 * 4.3.1, mail system full); the session goes on. Answered from the cached reading: MAIL never waits for statfs.
 */
function refuseWithoutSpace(deps: GatewayDeps, declaredSize: number | undefined, maxMessageSize: number): void {
  const config = deps.snapshot().config;
  // inline delivery keeps nothing in the spool: the next hop's reply is the client's
  if (config.delivery.mode === 'inline' && deps.inline) return;
  const needed = spaceNeeded(config.queue.min_free, declaredSize, maxMessageSize);
  const free = deps.freeSpace?.freeBytes();
  if (needed === 0 || free === undefined || free >= needed) return;
  deps.metrics.insufficientStorage.inc({ phase: 'mail' });
  deps.log.warn('MAIL refused: too little free space in the spool', { free, needed, ...(declaredSize !== undefined ? { size: declaredSize } : {}) });
  throw insufficientStorage();
}

/**
 * Front-of mode: a bare <postmaster> (any case), which RFC 5321 §4.1.1.3 and §4.5.1 say MUST be accepted, goes on as
 * postmaster@ the first of local_domains. Handed on bare, it is an address of no domain at the upstream: some refuse
 * it (501, a bounce for mail we took), others qualify it with a domain of their own choosing, and here it counted as
 * another domain's recipient (signed with BATV, given the copy without X-Spamgate fields). Qualified, it is one of
 * our own, as full-stack mode makes it (postmaster@ the primary domain, mailhost.postmaster). With no
 * local_domains it stays as given.
 */
function qualifiedPostmaster(config: Pick<Config, 'mode' | 'local_domains'>, rcpt: string): string {
  const domain = config.local_domains[0];
  if (config.mode !== 'front-of' || domain === undefined || rcpt.toLowerCase() !== 'postmaster') return rcpt;
  return `postmaster@${domain}`;
}

export async function addRecipient(deps: GatewayDeps, state: SessionState, address: SMTPServerAddress): Promise<void> {
  const tx = state.tx;
  if (!tx) throw new SmtpError(503, '5.5.1', 'Bad sequence of commands');
  const readDsn = readRcptParameters(address, tx.envelope.smtputf8);
  // The same recipient again (compared without case, as smtp-server does): accepted once, kept once, so the
  // next hop never gets it twice and it never counts twice against the limits.
  // draft-levine-smtp-batv-01 §4.2: a tagged recipient at our domains is the plain address from here on
  // (checks, the envelope, delivery); the BATV check judges the tag of a bounce from rcptAsGiven.
  const asGiven = canonicalMailbox(address.address);
  const plain = plainRecipient(deps.snapshot().batv, asGiven, deps.snapshot().config.local_domains);
  const rcpt = qualifiedPostmaster(deps.snapshot().config, plain);
  // RFC 3461 §4.2: an ORCPT added by a relaying MTA MUST hold the recipient of the RCPT it received: the qualified
  // postmaster keeps <postmaster> as its original recipient (in notices, and at an upstream that offers DSN).
  const dsnRequest = rcpt !== plain && readDsn?.orcpt === undefined ? { ...readDsn, orcpt: `rfc822;${plain}` } : readDsn;
  const again = rcpt.toLowerCase();
  if (tx.envelope.rcptTo.some((r) => r.toLowerCase() === again)) return;
  const config = deps.snapshot().config;
  // RFC 5321 §4.5.3.1.8: at least 100 recipients must be accepted; beyond our limit, 452.
  if (tx.envelope.rcptTo.length >= config.smtp.max_recipients) {
    deps.metrics.recipients.inc({ result: 'too_many' });
    throw new SmtpError(452, '4.5.3', 'Too many recipients');
  }
  const hits = await runPhase(deps, state, 'rcpt', tx, { rcpt, ...(rcpt !== asGiven ? { rcptAsGiven: asGiven } : {}) });
  try {
    enforce(deps, hits, tx, 'rcpt');
  } catch (err) {
    deps.metrics.recipients.inc({ result: 'refused' });
    if (err instanceof SmtpError) tx.refused.push({ rcpt, reply: err.toString() });
    throw err;
  }
  deps.metrics.recipients.inc({ result: 'accepted' });
  tx.envelope.rcptTo.push(rcpt);
  if (dsnRequest) tx.dsn.rcptDsn[rcpt] = dsnRequest;
  else delete tx.dsn.rcptDsn[rcpt];
  for (const h of hits) tx.hits.push(h);
}
