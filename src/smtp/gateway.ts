// The SMTP front line: wires smtp-server callbacks to the phase pipeline (checks → symbols → verdict),
// relay control, limits and the hand-off to the spool or the next hop. One instance per listener.
import type { AddressInfo, Socket } from 'node:net';
import type { SMTPServerAddress, SMTPServerAuthentication, SMTPServerAuthenticationResponse, SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import { runChecks } from '../checks/runner.ts';
import type { Check, CheckContext, Envelope, Phase, SessionInfo, SymbolHit } from '../checks/types.ts';
import type { Config } from '../config/schema.ts';
import type { RateStore } from '../limits/rate-store.ts';
import type { Authenticator } from '../mailhost/types.ts';
import type { InlineForwarder, MessageSink } from '../queue/types.ts';
import type { Ruleset } from '../scoring/ruleset.ts';
import { scoreHits, type Verdict } from '../scoring/scorer.ts';
import { CidrSet } from '../util/cidr.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { finishData } from './data-phase.ts';
import { GatewayServer } from './gateway-connection.ts';
import { symbolFamily, type GatewayMetrics } from './gateway-metrics.ts';
import { SmtpListener, type AcceptedClient, type AdmitDecision } from './listener.ts';
import type { SessionState, Transaction } from './session-state.ts';
import { SmtpError, tempFailure } from './smtp-error.ts';

/** Everything reloadable: one transaction is judged by one snapshot. */
export interface GatewaySnapshot {
  config: Config;
  ruleset: Ruleset;
  checks: readonly Check[];
}

export interface VerdictEvent {
  verdict: Verdict;
  message: Buffer;
  session: Readonly<SessionInfo>;
  envelope: Readonly<Envelope>;
  /** Results the checks left (e.g. the Bayes probability for autolearn). */
  results: ReadonlyMap<string, unknown>;
}

export interface GatewayDeps {
  name: 'smtp' | 'submission';
  snapshot: () => GatewaySnapshot;
  sink?: MessageSink;
  inline?: InlineForwarder;
  authenticator?: Authenticator;
  rateStore: RateStore;
  clock: Clock;
  log: Logger;
  metrics: GatewayMetrics;
  hostname: string;
  tls?: { key: Buffer; cert: Buffer };
  /** Called after each accepted message's verdict (autolearn, statistics). */
  onVerdict?: (event: VerdictEvent) => void;
}

const LOOPBACK = new CidrSet(['127.0.0.0/8', '::1/128']);

/** Trusted networks compiled once per config snapshot (not per connection). */
const trustedSets = new WeakMap<Config, CidrSet>();
function trustedNetworks(config: Config): CidrSet {
  let set = trustedSets.get(config);
  if (!set) {
    set = new CidrSet(config.smtp.trusted_networks);
    trustedSets.set(config, set);
  }
  return set;
}

export class Gateway {
  readonly server: GatewayServer;
  private readonly listener: SmtpListener;
  private readonly sessions = new Map<string, SessionState>();
  private readonly preSession = new Map<string, { client: AcceptedClient; hits: SymbolHit[] }>();
  private readonly submission: boolean;

  constructor(private readonly deps: GatewayDeps) {
    const { config } = deps.snapshot();
    const smtp = config.smtp;
    this.submission = deps.name === 'submission';
    const trusted = new CidrSet(smtp.trusted_networks);
    this.server = new GatewayServer({
      name: deps.hostname,
      banner: smtp.banner,
      size: smtp.max_message_size,
      rejectOversized: true,
      authMethods: ['PLAIN', 'LOGIN'],
      authOptional: !this.submission,
      allowInsecureAuth: true,
      disabledCommands: [...(deps.tls ? [] : ['STARTTLS']), ...(smtp.auth.enabled ? [] : ['AUTH'])],
      hideSTARTTLS: !deps.tls,
      hideDSN: true,
      hideENHANCEDSTATUSCODES: false,
      disableReverseLookup: true,
      socketTimeout: smtp.idle_timeout,
      closeTimeout: 5000,
      maxClients: Number.MAX_SAFE_INTEGER,
      maxAllowedUnauthenticatedCommands: false as unknown as number,
      logger: false,
      xclientFrom: new CidrSet(smtp.xclient_from),
      maxBadCommands: smtp.max_bad_commands,
      ...(deps.tls ? { key: deps.tls.key, cert: deps.tls.cert } : {}),
      onConnect: (session, cb) => this.onConnect(session, cb),
      onSecure: (_socket, session, cb) => this.onSecure(session, cb),
      onAuth: (auth, session, cb) => void this.onAuth(auth, session, cb),
      onMailFrom: (address, session, cb) => void this.guard(session, cb, () => this.onMailFrom(address, session)),
      onRcptTo: (address, session, cb) => void this.guard(session, cb, () => this.onRcptTo(address, session)),
      onData: (stream, session, cb) => void this.onData(stream, session, cb),
      onClose: (session) => this.onClose(session),
    });
    this.server.on('error', (err: Error) => deps.log.debug('smtp session error', { err }));
    this.listener = new SmtpListener({
      proxyFrom: new CidrSet(smtp.proxy_protocol_from),
      proxyTimeoutMs: 10_000,
      maxConnections: smtp.max_connections,
      maxConnectionsPerIp: smtp.max_connections_per_ip,
      greetDelayFor: (ip) => (this.submission || trusted.has(ip) ? 0 : smtp.greet_delay),
      admit: (client) => this.admit(client),
      handOver: (socket, client) => this.handOver(socket, client),
      hostname: deps.hostname,
      log: deps.log,
    });
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return this.listener.listen(port, host);
  }

  address(): AddressInfo {
    return this.listener.address();
  }

  get activeSessions(): number {
    return this.listener.connections;
  }

  /** SIGTERM: stop accepting, let sessions finish until the deadline, then cut them with 421. */
  async close(deadlineMs: number): Promise<void> {
    const stopped = this.listener.stopAccepting();
    const started = Date.now();
    while (this.listener.connections > 0 && Date.now() - started < deadlineMs) await new Promise((r) => setTimeout(r, 25));
    for (const conn of this.server.connections) conn.send(421, '4.3.2 Service shutting down, try again later', false);
    this.listener.destroyAll();
    await stopped;
  }

  updateTls(tls: { key: Buffer; cert: Buffer }): void {
    this.server.updateSecureContext({ key: tls.key, cert: tls.cert });
  }

  private async admit(client: AcceptedClient): Promise<AdmitDecision> {
    const { config, ruleset } = this.deps.snapshot();
    const hits: SymbolHit[] = [];
    if (client.pregreet !== undefined) hits.push({ symbol: 'PREGREET', options: [client.pregreet.replace(/\r?\n.*/s, '').slice(0, 40)] });
    const rule = config.limits.per_ip.connections;
    if (rule && !this.submission) {
      const n = await this.deps.rateStore.hit(`ip-conn:${client.remoteAddress}`, rule.window);
      if (n > rule.limit) hits.push({ symbol: 'RATE_IP_CONNECTIONS', options: [client.remoteAddress, `${n}>${rule.limit}`] });
    }
    const verdict = scoreHits(hits, ruleset);
    if (verdict.action === 'reject' || verdict.action === 'tempfail') {
      const reply = SmtpError.fromReply(verdict.reply ?? '421 4.7.0 Try again later');
      this.deps.metrics.connections.inc({ listener: this.deps.name, result: verdict.decidedBy.toLowerCase() });
      this.deps.metrics.rejects.inc({ phase: 'connect', symbol: verdict.decidedBy });
      this.deps.log.info('connection refused', { session: client.id, client_ip: client.remoteAddress, symbols: verdict.symbols });
      // A refusal at greeting closes the connection: 4xx becomes 421 (RFC 5321 §3.8), 5xx 554 (§3.1).
      return { refuse: `${reply.code >= 500 ? 554 : 421} ${reply.enhanced} ${reply.text}` };
    }
    this.preSession.set(client.id, { client, hits });
    return undefined;
  }

  private handOver(socket: Socket, client: AcceptedClient): void {
    this.server.connect(socket, {
      id: client.id,
      remoteAddress: client.remoteAddress,
      remotePort: client.remotePort,
      localAddress: client.localAddress,
      localPort: client.localPort,
    });
  }

  private onConnect(session: SMTPServerSession, cb: (err?: Error | null) => void): void {
    const { config } = this.deps.snapshot();
    const pre = this.preSession.get(session.id);
    this.preSession.delete(session.id);
    const trusted = trustedNetworks(config).has(session.remoteAddress);
    const state: SessionState = {
      info: {
        id: session.id,
        clientIp: session.remoteAddress,
        clientPort: session.remotePort,
        secure: session.secure,
        trusted,
        submission: this.submission,
        localIp: session.localAddress,
        localPort: session.localPort,
      },
      sessionHits: pre?.hits ?? [],
      sessionHeaders: [],
      transactions: 0,
      openedAt: this.deps.clock.now(),
    };
    state.sessionTimer = setTimeout(() => this.expireSession(session.id), config.smtp.session_timeout);
    state.sessionTimer.unref();
    this.sessions.set(session.id, state);
    this.deps.metrics.connections.inc({ listener: this.deps.name, result: 'accepted' });
    this.deps.metrics.connectionsActive.inc({ listener: this.deps.name });
    // RFC 4954 §4 / house rule: AUTH only over TLS unless the client is on loopback.
    if (!config.smtp.auth.enabled || (!session.secure && !LOOPBACK.has(session.remoteAddress))) session.disabledCommands = this.baseDisabled('AUTH');
    cb();
  }

  /** The server-wide disabled commands plus extra ones: a session list replaces the server's. */
  private baseDisabled(...extra: string[]): string[] {
    const { config } = this.deps.snapshot();
    return [...(this.deps.tls ? [] : ['STARTTLS']), ...(config.smtp.auth.enabled ? [] : ['AUTH']), ...extra];
  }

  private onSecure(session: SMTPServerSession, cb: (err?: Error | null) => void): void {
    session.disabledCommands = this.baseDisabled();
    const state = this.sessions.get(session.id);
    if (state) state.info.secure = true;
    cb();
  }

  private expireSession(id: string): void {
    for (const conn of this.server.connections) {
      if (conn.session.id === id) conn.send(421, '4.4.2 Session time limit exceeded, closing connection', false);
    }
  }

  private async onAuth(auth: SMTPServerAuthentication, session: SMTPServerSession, cb: (err: Error | null | undefined, response?: SMTPServerAuthenticationResponse) => void): Promise<void> {
    if (!session.secure && !LOOPBACK.has(session.remoteAddress)) {
      this.deps.metrics.authAttempts.inc({ result: 'insecure' });
      return cb(new SmtpError(538, '5.7.11', 'Encryption required for requested authentication mechanism'));
    }
    const authenticator = this.deps.authenticator;
    if (!authenticator || auth.password === undefined || auth.password === null) {
      this.deps.metrics.authAttempts.inc({ result: 'unavailable' });
      return cb(new SmtpError(535, '5.7.8', 'Authentication credentials invalid'));
    }
    try {
      const user = await authenticator.authenticate(auth.username ?? '', auth.password ?? '');
      if (!user) {
        this.deps.metrics.authAttempts.inc({ result: 'failed' });
        return cb(new SmtpError(535, '5.7.8', 'Authentication credentials invalid'));
      }
      const state = this.sessions.get(session.id);
      if (state) state.info.authUser = user;
      this.deps.metrics.authAttempts.inc({ result: 'success' });
      cb(null, { user });
    } catch (err) {
      this.deps.log.error('authentication backend failed', { err, session: session.id });
      cb(new SmtpError(454, '4.7.0', 'Temporary authentication failure'));
    }
  }

  /** Runs a handler; an unexpected throw becomes 451 4.3.0 with the session id logged (convention 3). */
  private async guard(session: SMTPServerSession, cb: (err?: Error | null) => void, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
      cb();
    } catch (err) {
      if (err instanceof SmtpError) return cb(err);
      this.deps.log.error('unexpected error in SMTP handler', { err, session: session.id });
      cb(tempFailure(`Local error in processing, try again later (session ${session.id})`));
    }
  }

  private state(session: SMTPServerSession): SessionState {
    const s = this.sessions.get(session.id);
    if (!s) throw new Error(`unknown session ${session.id}`);
    // XCLIENT may have changed the client's address or name since connect: trust follows the new address.
    if (s.info.clientIp !== session.remoteAddress) {
      s.info.trusted = trustedNetworks(this.deps.snapshot().config).has(session.remoteAddress);
    }
    s.info.clientIp = session.remoteAddress;
    s.info.clientPort = session.remotePort;
    const hostname = session.clientHostname;
    if (hostname && !hostname.startsWith('[')) s.info.clientHostname = hostname;
    if (session.hostNameAppearsAs) s.info.helo = session.hostNameAppearsAs;
    s.info.secure = session.secure;
    return s;
  }

  private async runPhase(state: SessionState, phase: Phase, tx: Transaction, extra: Partial<CheckContext> = {}): Promise<SymbolHit[]> {
    const { config } = this.deps.snapshot();
    const snapshot = this.deps.snapshot();
    const headers = phase === 'connect' || phase === 'helo' ? state.sessionHeaders : tx.headers;
    const started = performance.now();
    const hits = await runChecks(
      snapshot.checks,
      {
        phase,
        session: state.info,
        envelope: tx.envelope,
        now: this.deps.clock.now(),
        log: this.deps.log.child({ session: state.info.id }),
        addHeader: (name, value) => headers.push([name, value]),
        results: tx.results,
        hitsSoFar: [...state.sessionHits, ...tx.hits],
        ...extra,
      },
      {
        defaultTimeoutMs: config.checks.timeout,
        trustedClient: state.info.trusted || state.info.authUser !== undefined,
        authenticated: state.info.authUser !== undefined,
        onTiming: (t) => this.deps.metrics.checkSeconds.observe({ check: t.check, outcome: t.outcome }, t.ms / 1000),
      },
    );
    tx.timings[phase] = (tx.timings[phase] ?? 0) + (performance.now() - started);
    for (const h of hits) this.deps.metrics.symbols.inc({ family: symbolFamily(h.symbol) });
    return hits;
  }

  /** Hard policy in the hits refuses the command now; scores wait for the end of DATA. */
  private enforce(hits: readonly SymbolHit[], tx: Transaction, phase: Phase): void {
    const verdict = scoreHits(hits, tx.ruleset);
    if (verdict.action !== 'reject' && verdict.action !== 'tempfail') return;
    if (verdict.decidedBy.includes('>=')) return; // thresholds are judged after DATA
    this.deps.metrics.rejects.inc({ phase, symbol: verdict.decidedBy });
    throw SmtpError.fromReply(verdict.reply ?? '451 4.3.0 Try again later');
  }

  private async onMailFrom(address: SMTPServerAddress, session: SMTPServerSession): Promise<void> {
    const state = this.state(session);
    const snapshot = this.deps.snapshot();
    if (state.transactions >= snapshot.config.smtp.max_transactions_per_session) {
      throw new SmtpError(421, '4.7.0', 'Too many messages in this session, reconnect');
    }
    if (this.submission && state.info.authUser === undefined) throw new SmtpError(530, '5.7.0', 'Authentication required');
    const args = (address.args || {}) as Record<string, string | boolean>;
    const envelope: Envelope = {
      mailFrom: address.address,
      rcptTo: [],
      smtputf8: args.SMTPUTF8 === true,
      body8bit: String(args.BODY ?? '').toUpperCase() === '8BITMIME',
    };
    if (args.SIZE !== undefined) envelope.declaredSize = Number(args.SIZE);
    const tx: Transaction = { envelope, hits: [], refused: [], results: new Map(), headers: [], startedAt: this.deps.clock.now(), ruleset: snapshot.ruleset, timings: {} };
    state.tx = tx;
    if (this.submission && this.deps.authenticator && address.address !== '' && !this.deps.authenticator.ownsAddress(state.info.authUser ?? '', address.address)) {
      throw new SmtpError(553, '5.7.1', `Sender address <${address.address}> not owned by user ${state.info.authUser}`);
    }
    // Connect and HELO checks run once per client address / HELO name, before the first MAIL
    // (as Postfix's smtpd_delay_reject), so XCLIENT-presented addresses are the ones checked.
    if (state.connectCheckedFor !== state.info.clientIp) {
      state.sessionHits = state.sessionHits.filter((h) => h.symbol === 'PREGREET');
      state.sessionHits.push(...(await this.runPhase(state, 'connect', tx)));
      state.connectCheckedFor = state.info.clientIp;
      state.heloCheckedFor = undefined;
    }
    if (state.heloCheckedFor !== (state.info.helo ?? '')) {
      state.sessionHits.push(...(await this.runPhase(state, 'helo', tx)));
      state.heloCheckedFor = state.info.helo ?? '';
    }
    this.enforce(state.sessionHits, tx, 'connect');
    const hits = await this.runPhase(state, 'mail', tx);
    this.enforce(hits, tx, 'mail');
    tx.hits.push(...hits);
  }

  private async onRcptTo(address: SMTPServerAddress, session: SMTPServerSession): Promise<void> {
    const state = this.state(session);
    const tx = state.tx;
    if (!tx) throw new SmtpError(503, '5.5.1', 'Bad sequence of commands');
    const config = this.deps.snapshot().config;
    // RFC 5321 §4.5.3.1.8: at least 100 recipients must be accepted; beyond our limit, 452.
    if (tx.envelope.rcptTo.length >= config.smtp.max_recipients) {
      this.deps.metrics.recipients.inc({ result: 'too_many' });
      throw new SmtpError(452, '4.5.3', 'Too many recipients');
    }
    const rcpt = address.address;
    const hits = await this.runPhase(state, 'rcpt', tx, { rcpt });
    try {
      this.enforce(hits, tx, 'rcpt');
    } catch (err) {
      this.deps.metrics.recipients.inc({ result: 'refused' });
      if (err instanceof SmtpError) tx.refused.push({ rcpt, reply: err.toString() });
      throw err;
    }
    this.deps.metrics.recipients.inc({ result: 'accepted' });
    tx.envelope.rcptTo.push(rcpt);
    for (const h of hits) tx.hits.push(h);
  }

  private async onData(stream: SMTPServerDataStream, session: SMTPServerSession, cb: (err?: Error | null, message?: string) => void): Promise<void> {
    const state = this.sessions.get(session.id);
    const tx = state?.tx;
    if (!state || !tx) {
      stream.resume();
      stream.once('end', () => cb(new SmtpError(503, '5.5.1', 'Bad sequence of commands')));
      return;
    }
    try {
      const reply = await finishData(stream, state, tx, {
        deps: this.deps,
        snapshot: this.deps.snapshot(),
        runPhase: (extra: Partial<CheckContext>) => this.runPhase(state, 'data', tx, extra),
      });
      state.transactions++;
      state.tx = undefined;
      if (reply.code >= 400) return cb(new SmtpError(reply.code, reply.enhanced, reply.text));
      cb(null, `${reply.enhanced} ${reply.text}`);
    } catch (err) {
      state.tx = undefined;
      if (err instanceof SmtpError) return cb(err);
      this.deps.log.error('unexpected error in DATA', { err, session: session.id });
      cb(tempFailure(`Local error in processing, try again later (session ${session.id})`));
    }
  }

  private onClose(session: SMTPServerSession): void {
    const state = this.sessions.get(session.id);
    if (!state) return;
    clearTimeout(state.sessionTimer);
    this.sessions.delete(session.id);
    this.deps.metrics.connectionsActive.dec({ listener: this.deps.name });
  }
}
