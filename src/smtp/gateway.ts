// The SMTP front line: wires smtp-server callbacks to the phase pipeline (checks → symbols → verdict),
// relay control, limits and the hand-off to the spool or the next hop. One instance per listener.
import type { AddressInfo, Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import type { SMTPServerAddress, SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import type { CheckContext, SymbolHit } from '../checks/types.ts';
import type { Config } from '../config/schema.ts';
import type { AuthThrottle } from '../limits/auth-throttle.ts';
import { CidrSet } from '../util/cidr.ts';
import { createServerContext, SERVER_TLS_OPTIONS } from '../util/tls-server.ts';
import { finishData } from './data-phase.ts';
import type { GatewayDeps } from './gateway-types.ts';
import { runPhase } from './phase-runner.ts';
import { authenticateSession, createSmtpAuthThrottle, LOOPBACK } from './smtp-auth.ts';
import { admitClient } from './admission.ts';
import { addRecipient, startTransaction } from './envelope-phase.ts';
import { GatewayServer } from './gateway-connection.ts';
import { SmtpListener, type AcceptedClient, type AdmitDecision } from './listener.ts';
import type { SessionState } from './session-state.ts';
import { SmtpError, tempFailure } from './smtp-error.ts';

/** Trusted networks compiled once per config snapshot (not per connection). */
const trustedSets = new WeakMap<Config, CidrSet>();
export function trustedNetworks(config: Config): CidrSet {
  let set = trustedSets.get(config);
  if (!set) {
    set = new CidrSet(config.smtp.trusted_networks);
    trustedSets.set(config, set);
  }
  return set;
}

/**
 * RFC 5321 §4.1.1.11 and §2.2.2: a client that greeted with HELO asked for no service extensions, so MAIL and RCPT
 * parameters (SIZE, BODY, SMTPUTF8, RET, NOTIFY, ...) are not recognized in its session: 555.
 */
function refuseParametersAfterHelo(session: SMTPServerSession, address: SMTPServerAddress): void {
  if (session.openingCommand === 'HELO' && address.args && Object.keys(address.args).length > 0) {
    throw new SmtpError(555, '5.5.4', 'MAIL FROM/RCPT TO parameters are not recognized after HELO (greet with EHLO)');
  }
}

export class Gateway {
  readonly server: GatewayServer;
  private readonly listener: SmtpListener;
  private readonly sessions = new Map<string, SessionState>();
  private readonly preSession = new Map<string, { client: AcceptedClient; hits: SymbolHit[] }>();
  /** Admission hits until the hand-over: a client that leaves in between takes its entry with it. */
  private readonly admitted = new WeakMap<AcceptedClient, SymbolHit[]>();
  private readonly submission: boolean;
  private readonly authThrottle: AuthThrottle;
  /** close() has begun: no new transactions. */
  private draining = false;
  /** The implicit-TLS port's context for the listener's refusals (follows certificate reloads). */
  private refusalContext: SecureContext | undefined;

  constructor(private readonly deps: GatewayDeps) {
    const { config } = deps.snapshot();
    const smtp = config.smtp;
    this.submission = deps.name !== 'smtp';
    // RFC 8314 §3.3: on the implicit-TLS submission port the TLS handshake comes first, and the greeting over it
    const implicitTls = deps.name === 'submissions';
    if (implicitTls && deps.tls) this.refusalContext = createServerContext(deps.tls);
    this.authThrottle = deps.authThrottle ?? createSmtpAuthThrottle(deps.clock);
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
      // RFC 3461: DSN requests are kept with the message and honoured or passed on.
      hideDSN: false,
      hideENHANCEDSTATUSCODES: false,
      disableReverseLookup: true,
      socketTimeout: smtp.idle_timeout,
      closeTimeout: 5000,
      maxClients: Number.MAX_SAFE_INTEGER,
      maxAllowedUnauthenticatedCommands: false as unknown as number,
      logger: false,
      xclientFrom: new CidrSet(smtp.xclient_from),
      maxBadCommands: smtp.max_bad_commands,
      // A greylisted recipient is the sender's first attempt, not a client error: counted, the deferrals of a
      // message to more recipients than max_bad_commands ended its session with 421, and each retry got only
      // that many recipients further.
      notClientError: (err) => err instanceof SmtpError && err.symbol === 'GREYLIST_DEFER',
      maxNotClientErrors: smtp.max_recipients,
      ...(deps.tls ? { key: deps.tls.key, cert: deps.tls.cert } : {}),
      // a socket the listener hands over is made TLS by smtp-server before anything else is said on it
      ...(implicitTls ? { secure: true, needsUpgrade: true } : {}),
      // smtp-server would accept TLS 1.0 and renegotiation (see util/tls-server.ts)
      ...SERVER_TLS_OPTIONS,
      onConnect: (session, cb) => this.onConnect(session, cb),
      onClientChanged: (session) => this.allowAuthFor(session),
      onSecure: (_socket, session, cb) => this.onSecure(session, cb),
      onAuth: (auth, session, cb) =>
        void authenticateSession(this.deps, auth, session, this.authThrottle).then(
          (user) => {
            const state = this.sessions.get(session.id);
            if (state) state.info.authUser = user;
            cb(null, { user });
          },
          (err: Error) => cb(err),
        ),
      onMailFrom: (address, session, cb) =>
        void this.guard(session, cb, { command: 'MAIL', address: address.address }, async () => {
          // shutting down: no new transaction (the one under way may finish); 421 also ends the session
          if (this.draining) throw new SmtpError(421, '4.3.2', 'Service shutting down, try again later');
          refuseParametersAfterHelo(session, address);
          await startTransaction(this.deps, this.state(session), address, this.submission);
        }),
      onRcptTo: (address, session, cb) =>
        void this.guard(session, cb, { command: 'RCPT', address: address.address }, () => {
          refuseParametersAfterHelo(session, address);
          return addRecipient(this.deps, this.state(session), address);
        }),
      onData: (stream, session, cb) => void this.onData(stream, session, cb),
      onClose: (session) => this.onClose(session),
    });
    this.server.on('error', (err: Error) => deps.log.debug('smtp session error', { err }));
    this.listener = new SmtpListener({
      proxyFrom: new CidrSet(smtp.proxy_protocol_from),
      proxyTimeoutMs: 10_000,
      maxConnections: smtp.max_connections,
      maxConnectionsPerIp: smtp.max_connections_per_ip,
      // the delay itself is read at start (README); who is trusted follows reloads, as relaying does
      greetDelayFor: (ip) => (this.submission || trustedNetworks(this.deps.snapshot().config).has(ip) ? 0 : smtp.greet_delay),
      admit: (client) => this.admit(client),
      handOver: (socket, client) => this.handOver(socket, client),
      refused: (result) => deps.metrics.connections.inc({ listener: deps.name, result }),
      hostname: deps.hostname,
      log: deps.log,
      ...(implicitTls ? { implicitTls: () => this.refusalContext } : {}),
    });
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    // the listener's own refusals exist from the start, so increase() sees the first one
    for (const result of ['too_many', 'too_many_per_ip', 'proxy_error']) this.deps.metrics.connections.inc({ listener: this.deps.name, result }, 0);
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
    this.draining = true;
    // sessions between transactions end now; those in one finish it (and get 421 at their next MAIL). A session
    // whose client said RSET (smtp-server empties the envelope) is between transactions too.
    for (const conn of this.server.connections) {
      if (this.sessions.get(conn.session.id)?.tx === undefined || !conn.session.envelope.mailFrom) {
        conn.send(421, '4.3.2 Service shutting down, try again later', false);
        conn.close();
      }
    }
    const started = Date.now();
    while (this.listener.connections > 0 && Date.now() - started < deadlineMs) await new Promise((r) => setTimeout(r, 25));
    for (const conn of this.server.connections) conn.send(421, '4.3.2 Service shutting down, try again later', false);
    this.listener.destroyAll();
    await stopped;
  }

  updateTls(tls: { key: Buffer; cert: Buffer }): void {
    this.server.updateSecureContext({ key: tls.key, cert: tls.cert });
    if (this.refusalContext) this.refusalContext = createServerContext(tls);
  }

  private async admit(client: AcceptedClient): Promise<AdmitDecision> {
    const { decision, hits } = await admitClient(this.deps, client, this.submission);
    if (!decision) this.admitted.set(client, hits);
    return decision;
  }

  private handOver(socket: Socket, client: AcceptedClient): void {
    this.preSession.set(client.id, { client, hits: this.admitted.get(client) ?? [] });
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
      sessionHeaders: { connect: [], helo: [] },
      transactions: 0,
      openedAt: this.deps.clock.now(),
    };
    state.sessionTimer = setTimeout(() => this.expireSession(session.id), config.smtp.session_timeout);
    state.sessionTimer.unref();
    this.sessions.set(session.id, state);
    this.deps.metrics.connections.inc({ listener: this.deps.name, result: 'accepted' });
    this.deps.metrics.connectionsActive.inc({ listener: this.deps.name });
    this.allowAuthFor(session);
    cb();
  }

  /** RFC 4954 §4 / house rule: AUTH only over TLS unless the client is on loopback (and then offered in EHLO). */
  private allowAuthFor(session: SMTPServerSession): void {
    const { config } = this.deps.snapshot();
    const allowed = config.smtp.auth.enabled && (session.secure || LOOPBACK.has(session.remoteAddress));
    session.disabledCommands = allowed ? this.baseDisabled() : this.baseDisabled('AUTH');
  }

  /** The server-wide disabled commands plus extra ones: a session list replaces the server's. */
  private baseDisabled(...extra: string[]): string[] {
    const { config } = this.deps.snapshot();
    return [...(this.deps.tls ? [] : ['STARTTLS']), ...(config.smtp.auth.enabled ? [] : ['AUTH']), ...extra];
  }

  private onSecure(session: SMTPServerSession, cb: (err?: Error | null) => void): void {
    session.disabledCommands = this.baseDisabled();
    const state = this.sessions.get(session.id);
    if (state) {
      // RFC 3207 §4.2: knowledge from before the TLS handshake is discarded (smtp-server resets its
      // session: identity, HELO, envelope); ours must not keep an AUTH identity from then either.
      state.info.secure = true;
      delete state.info.authUser;
      delete state.info.helo;
      state.tx = undefined;
    }
    cb();
  }

  private expireSession(id: string): void {
    for (const conn of this.server.connections) {
      if (conn.session.id === id) conn.send(421, '4.4.2 Session time limit exceeded, closing connection', false);
    }
  }

  /**
   * Runs a MAIL or RCPT handler; an unexpected throw becomes 451 4.3.0 with the session id logged (convention 3).
   * A refusal is logged (`"msg":"refused"`): no transaction line is written for mail refused before DATA.
   */
  private async guard(session: SMTPServerSession, cb: (err?: Error | null) => void, what: { command: 'MAIL' | 'RCPT'; address: string }, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
      cb();
    } catch (err) {
      if (err instanceof SmtpError) {
        // smtp-server's session, not ours: a refusal thrown before this.state() ran (parameters after HELO,
        // shutting down) would otherwise name the proxy as the client after XCLIENT ADDR
        this.deps.log.info('refused', {
          listener: this.deps.name,
          session: session.id,
          client_ip: session.remoteAddress,
          ...(session.hostNameAppearsAs ? { helo: session.hostNameAppearsAs } : {}),
          command: what.command,
          address: what.address,
          ...(err.symbol ? { symbol: err.symbol } : {}),
          reply: err.toString(),
        });
        return cb(err);
      }
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
      // the name was the other address's (a forwarded client's, for the proxy again after XFORWARD)
      delete s.info.clientHostname;
    }
    s.info.clientIp = session.remoteAddress;
    s.info.clientPort = session.remotePort;
    // XCLIENT ADDR (or LOGIN=) hands the session to the forwarded client: smtp-server drops the identity
    // the proxy authenticated as, and so must we, or the stranger would relay as the proxy's user.
    if (!session.user) delete s.info.authUser;
    const hostname = session.clientHostname;
    if (hostname && !hostname.startsWith('[')) s.info.clientHostname = hostname;
    if (session.hostNameAppearsAs) s.info.helo = session.hostNameAppearsAs;
    s.info.esmtp = (session as { openingCommand?: unknown }).openingCommand === 'EHLO';
    s.info.secure = session.secure;
    return s;
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
        runPhase: (extra: Partial<CheckContext>) => runPhase(this.deps, state, 'data', tx, extra),
        mendsLongLines: true,
      });
      state.transactions++;
      state.tx = undefined;
      if (reply.code >= 400) return cb(new SmtpError(reply.code, reply.enhanced, reply.text));
      cb(null, `${reply.enhanced} ${reply.text}`);
    } catch (err) {
      state.tx = undefined;
      if (err instanceof SmtpError) return cb(err);
      // A client that goes away mid-DATA is not our error: nothing was accepted, nothing is lost.
      if ((err as { code?: unknown }).code === 'ECONNECTION') {
        this.deps.log.info('client disconnected during DATA', { session: session.id });
        this.deps.metrics.transactions.inc({ listener: this.deps.name, action: 'aborted' });
        return cb(tempFailure('Connection closed during DATA'));
      }
      this.deps.log.error('unexpected error in DATA', { err, session: session.id });
      cb(tempFailure(`Local error in processing, try again later (session ${session.id})`));
    }
  }

  private onClose(session: SMTPServerSession): void {
    this.preSession.delete(session.id);
    const state = this.sessions.get(session.id);
    if (!state) return;
    clearTimeout(state.sessionTimer);
    this.sessions.delete(session.id);
    this.deps.metrics.connectionsActive.dec({ listener: this.deps.name });
  }
}
