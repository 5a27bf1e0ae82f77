// One POP3 session (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 SASL): AUTHORIZATION, TRANSACTION, UPDATE.
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { normalizeIp } from '../util/cidr.ts';
import { apopDigest, digestsEqual } from '../mailhost/password.ts';
import type { LoginResult, SessionContext } from './context.ts';
import { Maildrop } from './maildrop.ts';
import { transactionCommand, type TransactionReplies } from './transaction.ts';
import { LineSplitter, type LineEvent } from './wire.ts';

type State = 'authorization' | 'transaction' | 'closed';

export class Pop3Session {
  private sock: Socket;
  private secure: boolean;
  private state: State = 'authorization';
  private pendingUser: string | undefined;
  private saslPlain = false;
  private drop: Maildrop | undefined;
  private readonly queue: LineEvent[] = [];
  private busy = false;
  private bad = 0;
  private readonly splitter: LineSplitter;
  private readonly timestamp: string;
  private readonly ip: string;
  private readonly onData = (chunk: Buffer): void => this.receive(chunk);

  constructor(
    private readonly ctx: SessionContext,
    socket: Socket,
    secure: boolean,
    readonly id: string,
  ) {
    this.sock = socket;
    this.secure = secure;
    this.ip = normalizeIp(socket.remoteAddress ?? '');
    this.splitter = new LineSplitter(ctx.limits.maxLineLength);
    this.timestamp = ctx.nextTimestamp();
  }

  start(): void {
    this.ctx.active.inc();
    this.attach(this.sock);
    this.send(`+OK spamgate POP3 ready ${this.timestamp}`);
  }

  private attach(sock: Socket): void {
    sock.on('data', this.onData);
    sock.on('error', (err) => this.ctx.log.debug('pop3 socket error', { session: this.id, err }));
    sock.on('close', () => this.finish());
    // RFC 1939 §3: on autologout the server closes the connection without entering UPDATE and without a response.
    sock.setTimeout(this.ctx.limits.idleTimeoutMs, () => sock.destroy());
  }

  private finish(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.ctx.active.dec();
    this.releaseLock();
  }

  private releaseLock(): void {
    if (this.drop && this.ctx.locks.get(this.drop.user) === this.id) this.ctx.locks.delete(this.drop.user);
  }

  private receive(chunk: Buffer): void {
    this.queue.push(...this.splitter.push(chunk));
    if (this.queue.length > 100) this.sock.pause();
    if (!this.busy) void this.pump();
  }

  /** Commands run one at a time in arrival order, so pipelined clients (RFC 2449 PIPELINING) are served in order. */
  private async pump(): Promise<void> {
    this.busy = true;
    try {
      for (let ev = this.queue.shift(); ev !== undefined && this.state !== 'closed'; ev = this.queue.shift()) {
        if (this.queue.length < 50 && this.sock.isPaused()) this.sock.resume();
        try {
          await this.handle(ev);
        } catch (err) {
          this.ctx.log.error('pop3 command failed', { session: this.id, err });
          this.send('-ERR [SYS/TEMP] internal error');
        }
      }
    } finally {
      this.busy = false;
    }
  }

  private send(line: string): void {
    if (!this.sock.destroyed) this.sock.write(line + '\r\n');
  }

  private async sendMultiline(first: string, parts: readonly Buffer[]): Promise<void> {
    if (this.sock.destroyed) return;
    this.sock.cork();
    this.sock.write(first + '\r\n');
    for (const p of parts) this.sock.write(p);
    this.sock.uncork();
    if (this.sock.writableNeedDrain) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.sock.off('drain', done);
          this.sock.off('close', done);
          resolve();
        };
        this.sock.on('drain', done);
        this.sock.on('close', done);
      });
    }
  }

  private err(text: string): void {
    this.send(`-ERR ${text}`);
  }

  private badCommand(text: string): void {
    this.bad++;
    this.err(text);
    if (this.bad >= this.ctx.limits.maxBadCommands) {
      this.err('[SYS/PERM] too many bad commands, closing');
      this.sock.end();
    }
  }

  private async handle(ev: LineEvent): Promise<void> {
    if (ev.kind === 'overlong') return this.badCommand(`line too long (limit ${this.ctx.limits.maxLineLength} octets)`);
    if (this.saslPlain) return this.saslResponse(ev.text);
    const m = /^([A-Za-z]{1,16})(?: (.*))?$/.exec(ev.text);
    if (!m) return this.badCommand('malformed command');
    const cmd = (m[1] ?? '').toUpperCase();
    const arg = m[2] ?? '';
    if (cmd === 'CAPA') return this.capa();
    if (cmd === 'QUIT') return this.quit();
    if (this.state === 'authorization') return this.authorization(cmd, arg);
    return this.transaction(cmd, arg);
  }

  private plaintextAllowed(): boolean {
    return this.secure || this.ctx.limits.allowInsecureAuth || this.ctx.plaintextOk.has(this.ip);
  }

  private refusePlaintext(): void {
    // With STLS on offer the client can fix it ([AUTH]); without TLS configured it never can ([SYS/PERM]).
    if (this.ctx.secureContext) this.err('[AUTH] plaintext authentication disallowed without TLS; use STLS first');
    else this.err('[SYS/PERM] plaintext authentication disallowed on this connection');
    this.ctx.logins.inc({ result: 'insecure' });
  }

  /** RFC 2449 §5 CAPA. */
  private capa(): void {
    const caps = ['TOP', 'UIDL', 'RESP-CODES', 'AUTH-RESP-CODE', 'PIPELINING', 'EXPIRE NEVER', 'IMPLEMENTATION spamgate'];
    if (this.state === 'authorization') {
      if (this.ctx.secureContext && !this.secure) caps.push('STLS');
      if (this.plaintextAllowed()) caps.push('USER', 'SASL PLAIN');
    }
    this.send(['+OK capability list follows', ...caps, '.'].join('\r\n'));
  }

  private async authorization(cmd: string, arg: string): Promise<void> {
    const pending = this.pendingUser;
    this.pendingUser = undefined;
    switch (cmd) {
      case 'USER':
        if (!this.plaintextAllowed()) return this.refusePlaintext();
        if (!arg || arg.includes(' ')) return this.badCommand('usage: USER name');
        this.pendingUser = arg;
        return this.send('+OK send PASS');
      case 'PASS':
        if (pending === undefined) return this.badCommand('USER first');
        if (!this.plaintextAllowed()) return this.refusePlaintext();
        return this.login(pending, (name) => this.ctx.users.authenticate(name, arg));
      case 'APOP': {
        // RFC 1939 §7: APOP name digest, digest = MD5(timestamp + shared secret).
        const a = /^(\S+) ([0-9a-fA-F]{32})$/.exec(arg);
        if (!a) return this.badCommand('usage: APOP name digest');
        const digest = a[2] ?? '';
        return this.login(a[1] ?? '', async (name) => {
          const rec = this.ctx.users.lookup(name);
          const secret = rec?.apopSecret;
          return rec && secret !== undefined && digestsEqual(apopDigest(this.timestamp, secret), digest) ? rec.name : undefined;
        });
      }
      case 'AUTH':
        return this.auth(arg);
      case 'STLS':
        return this.stls();
      default:
        return this.badCommand(`${cmd} not valid in the AUTHORIZATION state`);
    }
  }

  /** RFC 5034: AUTH with no argument lists mechanisms; AUTH PLAIN [initial-response]. */
  private async auth(arg: string): Promise<void> {
    const [mech, initial, extra] = arg.split(' ');
    if (!mech) return this.send('+OK SASL mechanisms follow\r\nPLAIN\r\n.');
    if (mech.toUpperCase() !== 'PLAIN' || extra !== undefined) return this.badCommand('unsupported SASL mechanism (PLAIN only)');
    if (!this.plaintextAllowed()) return this.refusePlaintext();
    if (initial === undefined) {
      this.saslPlain = true;
      return this.send('+ ');
    }
    return this.saslResponse(initial === '=' ? '' : initial);
  }

  private async saslResponse(text: string): Promise<void> {
    this.saslPlain = false;
    if (text === '*') return this.err('authentication cancelled'); // RFC 5034 §4
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return this.badCommand('invalid base64');
    // RFC 4616 §2: [authzid] NUL authcid NUL passwd; we accept an authzid only if it names the same user.
    const parts = Buffer.from(text, 'base64').toString('utf8').split('\0');
    if (parts.length !== 3) return this.err('[AUTH] malformed PLAIN response');
    const [authz, authc, pass] = parts as [string, string, string];
    if (authz && authz.toLowerCase() !== authc.toLowerCase()) return this.err('[AUTH] authorization identity not permitted');
    return this.login(authc, (name) => this.ctx.users.authenticate(name, pass));
  }

  /** RFC 2595 §4: STLS only before login; input buffered before the handshake is discarded. */
  private stls(): void {
    if (!this.ctx.secureContext) return this.badCommand('STLS not available');
    if (this.secure) return this.badCommand('already using TLS');
    this.send('+OK begin TLS negotiation');
    const plain = this.sock;
    plain.off('data', this.onData);
    plain.setTimeout(0);
    this.splitter.reset();
    this.queue.length = 0;
    const tlsSock = new TLSSocket(plain, { isServer: true, secureContext: this.ctx.secureContext });
    this.sock = tlsSock;
    this.secure = true;
    this.attach(tlsSock);
  }

  private async login(name: string, verify: (name: string) => Promise<string | undefined>): Promise<void> {
    const who = name.toLowerCase();
    const record = (result: LoginResult): void => this.ctx.logins.inc({ result });
    if (this.ctx.throttle.blocked(this.ip, who)) {
      record('throttled');
      return this.err('[SYS/TEMP] too many failed logins; try again later');
    }
    const user = await verify(who);
    if (this.state === 'closed') return;
    if (user === undefined) {
      this.ctx.throttle.fail(this.ip, who);
      record('failure');
      this.ctx.log.info('pop3 login failed', { session: this.id, ip: this.ip, user: who });
      return this.err('[AUTH] invalid user name or password');
    }
    this.ctx.throttle.succeed(user);
    // RFC 1939 §8 / RFC 2449 §8.1.1: one session per maildrop; another gets [IN-USE].
    if (this.ctx.locks.has(user)) {
      record('in_use');
      return this.err('[IN-USE] maildrop already locked by another session');
    }
    this.ctx.locks.set(user, this.id);
    let drop: Maildrop;
    try {
      drop = await Maildrop.open(this.ctx.store, user);
    } catch (err) {
      this.ctx.locks.delete(user);
      this.ctx.log.error('pop3 cannot open maildrop', { session: this.id, user, err });
      return this.err('[SYS/TEMP] cannot open maildrop');
    }
    if ((this.state as State) === 'closed') {
      this.ctx.locks.delete(user);
      return;
    }
    this.drop = drop;
    this.state = 'transaction';
    record('success');
    this.ctx.log.info('pop3 login', { session: this.id, ip: this.ip, user, tls: this.secure });
    try {
      this.ctx.onLogin?.(user, this.ip);
    } catch (err) {
      this.ctx.log.warn('pop3 onLogin hook failed', { err });
    }
    const { count, size } = drop.stat();
    this.send(`+OK ${user} has ${count} messages (${size} octets)`);
  }

  private async transaction(cmd: string, arg: string): Promise<void> {
    const drop = this.drop;
    if (!drop) return this.badCommand('not logged in');
    return transactionCommand(drop, cmd, arg, this.replies);
  }

  /** The replies TRANSACTION commands answer with. */
  private readonly replies: TransactionReplies = {
    send: (line) => this.send(line),
    err: (text) => this.err(text),
    badCommand: (text) => this.badCommand(text),
    sendMultiline: (first, parts) => this.sendMultiline(first, parts),
    readFailed: (n, err) => this.ctx.log.warn('pop3 cannot read message', { session: this.id, n, err }),
  };

  /** QUIT: in TRANSACTION enters UPDATE (RFC 1939 §6), in AUTHORIZATION just closes. */
  private async quit(): Promise<void> {
    const drop = this.drop;
    if (this.state === 'transaction' && drop) {
      const result = await drop.update();
      this.releaseLock();
      if (!result.ok) {
        this.ctx.log.error('pop3 update failed', { session: this.id, user: drop.user, error: result.error });
        this.err('[SYS/TEMP] some deleted messages not removed');
      } else {
        this.send(`+OK spamgate POP3 signing off (${result.left} messages left)`);
      }
    } else {
      this.send('+OK spamgate POP3 signing off');
    }
    this.state = 'closed';
    this.ctx.active.dec();
    this.sock.end();
  }
}
