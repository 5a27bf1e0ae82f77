// One milter connection's conversation: option negotiation, macros, and each SMTP step the MTA reports run
// through the gateway's own pipeline (connect/helo/mail checks at MAIL, rcpt checks per recipient, the data
// checks and the decision at end of body), answered with continue, a reply code, or the end-of-body changes.
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { plainRecipient } from '../batv/batv.ts';
import type { SessionInfo } from '../checks/types.ts';
import type { MilterConfig } from '../config/sections/milter.ts';
import { canonicalMailbox } from '../smtp/address.ts';
import { admitClient } from '../smtp/admission.ts';
import { judgeMessage, logTransaction } from '../smtp/data-judge.ts';
import { addRecipient, startTransaction } from '../smtp/envelope-phase.ts';
import { trustedNetworks } from '../smtp/gateway.ts';
import type { GatewayDeps } from '../smtp/gateway-types.ts';
import { runPhase } from '../smtp/phase-runner.ts';
import type { SessionState } from '../smtp/session-state.ts';
import { SmtpError } from '../smtp/smtp-error.ts';
import { clientName, parseConnect, parseEnvelopeAddress } from './connect-info.ts';
import { parseMacros, StepMacros } from './macros.ts';
import { MessageBuffer } from './message-buffer.ts';
import { outboundPackets, withoutResultField } from './outbound.ts';
import { RefusalLog } from './refusal-log.ts';
import type { MilterPacket } from './packet-reader.ts';
import { Cmd, firstCString, MILTER_VERSION, optnegReply, packet, Proto, Reply, replyCode, splitCStrings, WANTED_ACTIONS, WANTED_PROTOCOL } from './protocol.ts';
import { endOfBody, type RecipientReplacement } from './verdict-actions.ts';

/** What the connection does after a packet: send these (maybe none), or close. */
export type Step = { send: Buffer[] } | { close: string };

export interface MilterSessionOptions {
  deps: GatewayDeps;
  config: () => MilterConfig;
  /** Sends a packet at once (SMFIR_PROGRESS while a long scan runs). */
  write: (b: Buffer) => void;
  /** Logs a warning the first time `key` is seen on the listener (an action the MTA did not grant). */
  warnOnce?: (key: string, message: string) => void;
}

const CONTINUE = (): Step => ({ send: [packet(Reply.CONTINUE)] });
/** The end-of-body packets that close the answer (the hold, the final reply): other changes go before them. */
const FINAL_EOB = new Set<string>([Reply.QUARANTINE, Reply.CONTINUE]);
/**
 * The macro steps of one transaction: MAIL, RCPT, DATA, end of headers, body, end of message. Their macros end with
 * it (a new transaction, an abort), so its queue id (macro i, which Postfix gives from RCPT or end of message on) is
 * not taken for the next one's, whose MAIL and RCPT may come without one.
 */
const TRANSACTION_STEPS = ['M', 'R', 'T', 'N', 'B', 'E'];
const AFTER_MAIL_STEPS = TRANSACTION_STEPS.filter((s) => s !== 'M');

/**
 * The recipient as the MTA sent it, for SMFIR_DELRCPT (Postfix compares it with its own): that text while it is no
 * longer than a bracketed address can be (parseEnvelopeAddress takes 512 octets), else the address in brackets, so
 * a recipient padded to the packet limit is neither kept per recipient nor echoed back.
 */
function givenRecipient(data: Buffer, address: string): string {
  const nul = data.indexOf(0);
  const end = nul < 0 ? data.length : nul;
  return end <= 514 ? data.subarray(0, end).toString('latin1') : `<${address}>`;
}

export class MilterSession {
  private negotiated = false;
  private leadingSpace = false;
  /** The actions (SMFIF_*) the MTA granted at negotiation. */
  private actions = 0;
  /** Macros per step letter: a step's new macros replace what the MTA said at that step before. */
  private readonly macros = new StepMacros();
  private state: SessionState | undefined;
  /** The session was admitted: counted among the active connections until it ends. */
  private active = false;
  private message: MessageBuffer | undefined;
  /** The transaction was refused at MAIL or for its size: later steps of it are answered the same way. */
  private refusedWith: Buffer | undefined;
  /** This transaction's recipients taken as another address than the MTA has (a BATV tag removed). */
  private replaced: RecipientReplacement[] = [];
  /** The session's refused MAIL and RCPT commands, logged as the SMTP listener logs them (bounded). */
  private readonly refusals: RefusalLog;

  constructor(private readonly opts: MilterSessionOptions) {
    this.refusals = new RefusalLog(() => opts.deps.snapshot().config.smtp.max_bad_commands);
  }

  async handle(p: MilterPacket): Promise<Step> {
    if (p.cmd !== Cmd.OPTNEG && !this.negotiated) return { close: 'command before option negotiation' };
    switch (p.cmd) {
      case Cmd.OPTNEG:
        return this.optneg(p.data);
      case Cmd.MACRO:
        this.macro(p.data);
        return { send: [] };
      case Cmd.CONNECT:
        return this.connect(p.data);
      case Cmd.HELO:
        if (this.state) this.state.info.helo = firstCString(p.data, 255);
        return CONTINUE();
      case Cmd.MAIL:
        return this.mail(p.data);
      case Cmd.RCPT:
        return this.rcpt(p.data);
      case Cmd.DATA:
      case Cmd.EOH:
      case Cmd.UNKNOWN:
        return this.refusedWith ? { send: [this.refusedWith] } : CONTINUE();
      case Cmd.HEADER: {
        const [name = '', value = ''] = splitCStrings(p.data);
        this.message?.addHeader(name, value);
        return this.sizeCheck();
      }
      case Cmd.BODY:
        this.message?.addBody(p.data);
        return this.sizeCheck();
      case Cmd.BODYEOB: {
        if (p.data.length) this.message?.addBody(p.data);
        const step = await this.endOfMessage();
        // the transaction is over, whatever the answer: its macros with it
        this.macros.drop(TRANSACTION_STEPS);
        return step;
      }
      case Cmd.ABORT:
        this.endTransaction();
        this.macros.drop(TRANSACTION_STEPS);
        return { send: [] };
      case Cmd.QUIT_NC:
        // the MTA reuses this connection for its next client: a new session from CONNECT on
        this.close();
        this.macros.clear();
        return { send: [] };
      case Cmd.QUIT:
        return { close: 'quit' };
      default:
        return { close: `unknown command 0x${p.cmd.charCodeAt(0).toString(16)}` };
    }
  }

  /** The connection went away (or the session ended): nothing is left open. */
  close(): void {
    this.endTransaction();
    this.refusals.reset();
    if (this.active) this.opts.deps.metrics.connectionsActive.dec({ listener: 'milter' });
    this.active = false;
    this.state = undefined;
  }

  private optneg(data: Buffer): Step {
    if (data.length < 12) return { close: 'short option negotiation' };
    const version = data.readUInt32BE(0);
    if (version < 2) return { close: `milter protocol version ${version} is not supported` };
    const actions = data.readUInt32BE(4) & WANTED_ACTIONS;
    const protocol = data.readUInt32BE(8) & WANTED_PROTOCOL;
    this.negotiated = true;
    this.actions = actions;
    this.leadingSpace = (protocol & Proto.HDR_LEADSPC) !== 0;
    // the MTA's own version when it is older: Postfix drops a milter that answers with a version above its own
    return { send: [optnegReply(Math.min(version, MILTER_VERSION), actions, protocol)] };
  }

  /** SMFIC_MACRO: the step's macros replace what the MTA said at that step before (see macros.ts for the bounds). */
  private macro(data: Buffer): void {
    const parsed = parseMacros(data);
    if (parsed) this.macros.set(parsed.step, parsed.macros);
  }

  private async connect(data: Buffer): Promise<Step> {
    const client = parseConnect(data);
    if (!client) return { close: 'malformed CONNECT' };
    this.close();
    const { deps } = this.opts;
    const config = deps.snapshot().config;
    // a local (unix socket, pipe) or unknown client is the MTA's own: taken as loopback
    const network = client.family === 'inet' || client.family === 'inet6';
    // a network client whose address is no IP address is not taken for a local one (it would be trusted)
    if (network && !isIP(client.address)) return { close: 'malformed CONNECT address' };
    const fromMacro = (this.macros.get('client_addr') ?? '').replace(/^IPv6:/i, '');
    const ip = isIP(fromMacro) ? fromMacro : network ? client.address : '127.0.0.1';
    const hostname = client.hostname ?? clientName(this.macros.get('client_name'));
    const info: SessionInfo = {
      id: randomBytes(8).toString('hex'),
      clientIp: ip,
      clientPort: client.port,
      secure: false,
      trusted: trustedNetworks(config).has(ip),
      submission: false,
      localIp: this.macros.get('daemon_addr') ?? '127.0.0.1',
      localPort: Number(this.macros.get('daemon_port') ?? 25) || 25,
      esmtp: true,
      ...(hostname ? { clientHostname: hostname } : {}),
    };
    this.state = { info, sessionHits: [], sessionHeaders: { connect: [], helo: [] }, transactions: 0, openedAt: deps.clock.now() };
    return this.guard(async () => {
      // as on the SMTP listener: a refused client is counted by the refusing symbol only (admitClient counts it)
      const { decision, hits } = await admitClient(deps, { id: info.id, remoteAddress: ip, remotePort: client.port, localAddress: info.localIp, localPort: info.localPort }, false);
      if (decision) throw SmtpError.fromReply(decision.refuse);
      this.state?.sessionHits.push(...hits);
      deps.metrics.connections.inc({ listener: 'milter', result: 'accepted' });
      deps.metrics.connectionsActive.inc({ listener: 'milter' });
      this.active = true;
    });
  }

  private async mail(data: Buffer): Promise<Step> {
    const state = this.state;
    if (!state) return { close: 'MAIL before CONNECT' };
    const address = parseEnvelopeAddress(data, true);
    if (!address) return { close: 'malformed MAIL' };
    this.endTransaction();
    // this MAIL's macros came just before it; those of later steps are the last transaction's
    this.macros.drop(AFTER_MAIL_STEPS);
    // the MTA's own knowledge of the client, from the macros of this step and the ones before
    const user = this.macros.get('auth_authen');
    if (user) state.info.authUser = user.slice(0, 255);
    else delete state.info.authUser;
    state.info.secure = Boolean(this.macros.get('tls_version'));
    const limit = this.opts.deps.snapshot().config.smtp.max_message_size;
    this.message = new MessageBuffer(limit, this.leadingSpace);
    const step = await this.guard(() => startTransaction(this.opts.deps, state, address, false), { command: 'MAIL', address: address.address });
    if ('send' in step && step.send[0]?.[4] === Reply.REPLYCODE.charCodeAt(0)) this.refusedWith = step.send[0];
    return step;
  }

  private async rcpt(data: Buffer): Promise<Step> {
    const state = this.state;
    if (!state) return { close: 'RCPT before CONNECT' };
    if (this.refusedWith) return { send: [this.refusedWith] };
    const address = parseEnvelopeAddress(data, false);
    if (!address) return { close: 'malformed RCPT' };
    return this.guard(async () => {
      await addRecipient(this.opts.deps, state, address);
      // a BATV tag at our domains is the plain address from here on (as addRecipient takes it): the MTA is told at the end
      const given = canonicalMailbox(address.address);
      const snapshot = this.opts.deps.snapshot();
      const plain = plainRecipient(snapshot.batv, given, snapshot.config.local_domains);
      if (plain !== given && this.replaced.length < snapshot.config.smtp.max_recipients) this.replaced.push({ given: givenRecipient(data, address.address), plain });
    }, { command: 'RCPT', address: address.address });
  }

  /** Past the size limit the message is refused at once (552), without waiting for the rest. */
  private async sizeCheck(): Promise<Step> {
    if (this.refusedWith) return { send: [this.refusedWith] };
    const m = this.message;
    const state = this.state;
    if (!m?.exceeded || !state?.tx) return CONTINUE();
    const judged = await judgeMessage(Buffer.alloc(0), m.bytes, true, state, state.tx, this.dataContext(state));
    this.refusedWith = judged.kind === 'refused' ? replyCode(judged.reply.code, judged.reply.enhanced, judged.reply.text) : packet(Reply.TEMPFAIL);
    return { send: [this.refusedWith] };
  }

  private async endOfMessage(): Promise<Step> {
    const state = this.state;
    const tx = state?.tx;
    const m = this.message;
    if (this.refusedWith) {
      const refused = this.refusedWith;
      this.endTransaction();
      return { send: [refused] };
    }
    if (!state || !tx || !m) return { send: [packet(Reply.TEMPFAIL)] };
    const deps = this.txDeps();
    // a long scan keeps the MTA waiting: SMFIR_PROGRESS restarts its timer
    const progress = setInterval(() => this.opts.write(packet(Reply.PROGRESS)), this.opts.config().progress);
    try {
      return await this.guard(async () => {
        const judged = await judgeMessage(m.raw(), m.bytes, m.exceeded, state, tx, this.dataContext(state));
        if (judged.kind === 'refused') return { send: [replyCode(judged.reply.code, judged.reply.enhanced, judged.reply.text)] };
        const { decision } = judged;
        const out = endOfBody({
          decision,
          headers: m.headers,
          added: [...state.sessionHeaders.connect, ...state.sessionHeaders.helo, ...tx.headers],
          sessionId: state.info.id,
          hostname: deps.hostname,
          subjectPrefix: tx.ruleset.subjectPrefix,
          junk: this.opts.config().junk,
          leadingSpace: this.leadingSpace,
          actions: this.actions,
          replacedRecipients: this.replaced,
          resultField: !withoutResultField(state, tx.envelope.rcptTo, deps.snapshot().config.local_domains),
        });
        if (out.action !== 'tempfail') {
          // our own outgoing mail: signed as delivered (after our header changes), so after them, before the final reply
          const changes = out.packets.filter((p) => !FINAL_EOB.has(String.fromCharCode(p[4] ?? 0)));
          const outbound = await outboundPackets({ deps, state, tx, raw: m.raw(), changes, actions: this.actions, leadingSpace: this.leadingSpace, sign: this.opts.config().sign, warnOnce: this.opts.warnOnce ?? ((_k, msg) => deps.log.warn(msg)) });
          out.packets.splice(changes.length, 0, ...outbound);
        }
        deps.metrics.transactions.inc({ listener: 'milter', action: out.action });
        deps.metrics.processing.observe({ listener: 'milter' }, (performance.now() - judged.started) / 1000);
        const judgedVerdict = decision.quarantine && out.action !== 'tempfail' ? decision.quarantine.verdict : decision.verdict;
        // the log line says what was done (a quarantine the MTA cannot hold is a tempfail)
        const verdict = out.action === judgedVerdict.action ? judgedVerdict : { ...judgedVerdict, action: out.action };
        logTransaction(deps, state, tx, verdict, m.bytes, out.reply);
        if (out.action === 'tempfail') {
          // the MTA did not grant SMFIF_QUARANTINE: the message comes again, judged then
          deps.log.warn('milter: the MTA did not grant quarantine; a message to quarantine is refused for now', { session: state.info.id });
          return { send: out.packets };
        }
        const event = { message: judged.raw, session: state.info, envelope: tx.envelope, results: tx.results };
        deps.onFinal?.({ action: out.action, ...event });
        deps.onVerdict?.({ verdict, ...event });
        // as the SMTP listener counts its client's errors: since the last accepted message
        if (out.action !== 'reject') this.refusals.reset();
        return { send: out.packets };
      });
    } finally {
      clearInterval(progress);
      state.transactions++;
      this.endTransaction();
    }
  }

  /** The gateway's dependencies for this transaction: its log lines name the MTA's queue id (macro i) when known. */
  private txDeps(): GatewayDeps {
    const id = this.macros.get('i');
    const deps = this.opts.deps;
    return id ? { ...deps, log: deps.log.child({ mta_queue_id: id.slice(0, 64) }) } : deps;
  }

  private dataContext(state: SessionState) {
    const deps = this.txDeps();
    const tx = state.tx;
    return {
      deps,
      snapshot: deps.snapshot(),
      runPhase: (extra: Parameters<typeof runPhase>[4]) => (tx ? runPhase(deps, state, 'data', tx, extra) : Promise.resolve([])),
    };
  }

  private endTransaction(): void {
    if (this.state) this.state.tx = undefined;
    this.message = undefined;
    this.refusedWith = undefined;
    this.replaced = [];
  }

  /**
   * Runs a step: an SmtpError is its reply code; an unexpected throw is 451 4.3.0 with the session logged.
   * A refused MAIL or RCPT (`what`) is logged as on the SMTP listener (`"msg":"refused"`).
   */
  private async guard(fn: () => Promise<void | Step>, what?: { command: 'MAIL' | 'RCPT'; address: string }): Promise<Step> {
    try {
      return (await fn()) ?? CONTINUE();
    } catch (err) {
      if (err instanceof SmtpError) {
        if (what && this.state) this.refusals.refused(this.txDeps().log, this.state.info, { ...what, err });
        return { send: [replyCode(err.code, err.enhanced, err.text)] };
      }
      this.opts.deps.log.error('unexpected error in milter step', { err, session: this.state?.info.id });
      return { send: [replyCode(451, '4.3.0', `Local error in processing, try again later (session ${this.state?.info.id ?? '-'})`)] };
    }
  }
}
