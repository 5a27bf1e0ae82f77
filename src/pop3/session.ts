// One POP3 session (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 SASL, RFC 6856 UTF8 and LANG): AUTHORIZATION,
// TRANSACTION, UPDATE.
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { normalizeIp } from '../util/cidr.ts';
import { parseApop, verifyApop } from './apop.ts';
import { capabilities } from './capabilities.ts';
import type { LoginResult, SessionContext } from './context.ts';
import { Maildrop } from './maildrop.ts';
import { whenDrained, writeLine, writeMultiline } from './output.ts';
import { readPlainResponse } from './sasl-plain.ts';
import { transactionCommand, type TransactionReplies } from './transaction.ts';
import { LineSplitter, type LineEvent } from './wire.ts';
import { langCommand } from './lang.ts';

type State = 'authorization' | 'transaction' | 'closed';

export class Pop3Session {
  private sock: Socket;
  private secure: boolean;
  private state: State = 'authorization';
  private pendingUser: string | undefined;
  private saslPlain = false;
  /** UTF8 was issued (RFC 6856 §2): messages as stored, UTF-8 allowed in replies. */
  private utf8 = false;
  private drop: Maildrop | undefined;
  private readonly queue: LineEvent[] = [];
  private busy = false;
  private bad = 0;
  /** Set once the server has decided to close: nothing more is read or answered. */
  private ending = false;
  /** QUIT's UPDATE is removing messages: the maildrop stays locked even if the client goes now. */
  private updating = false;
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
    // an error on a TLS socket (a failed handshake, a refused renegotiation) ends the session as on a plain one
    sock.on('error', (err) => {
      this.ctx.log.debug('pop3 socket error', { session: this.id, err });
      sock.destroy();
    });
    sock.on('close', () => this.finish());
    // RFC 1939 §3: on autologout the server closes the connection without entering UPDATE and without a response.
    sock.setTimeout(this.ctx.limits.idleTimeoutMs, () => sock.destroy());
  }

  /** Ends the session once (socket closed, or after QUIT); the lock stays with a running UPDATE. */
  private finish(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.ctx.active.dec();
    if (!this.updating) this.releaseLock();
  }

  private releaseLockOf(user: string): void {
    if (this.ctx.locks.get(user) === this.id) this.ctx.locks.delete(user);
  }

  private releaseLock(): void {
    if (this.drop && this.ctx.locks.get(this.drop.user) === this.id) this.ctx.locks.delete(this.drop.user);
  }

  private receive(chunk: Buffer): void {
    if (this.ending) return;
    this.queue.push(...this.splitter.push(chunk));
    if (this.queue.length > 100) this.sock.pause();
    if (!this.busy) void this.pump();
  }

  /** Commands run one at a time in arrival order, so pipelined clients (RFC 2449 PIPELINING) are served in order. */
  private async pump(): Promise<void> {
    this.busy = true;
    try {
      for (let ev = this.queue.shift(); ev !== undefined && this.state !== 'closed' && !this.ending; ev = this.queue.shift()) {
        try {
          await this.handle(ev);
        } catch (err) {
          this.ctx.log.error('pop3 command failed', { session: this.id, err });
          this.send('-ERR [SYS/TEMP] internal error');
        }
        // A client that pipelines without reading the replies must not make us buffer them all.
        await whenDrained(this.sock);
        if (this.queue.length < 50 && this.sock.isPaused()) this.sock.resume();
      }
    } finally {
      this.busy = false;
    }
  }

  private send(line: string): void {
    // RFC 6856 §2: a client that has not issued UTF8 gets ASCII replies only
    writeLine(this.sock, this.utf8 ? line : line.replace(/[^\x00-\x7f]/gu, '?'));
  }

  private sendMultiline(first: string, parts: readonly Buffer[]): Promise<void> {
    return writeMultiline(this.sock, first, parts);
  }

  private err(text: string): void {
    this.send(`-ERR ${text}`);
  }

  private badCommand(text: string): void {
    this.bad++;
    this.err(text);
    if (this.bad >= this.ctx.limits.maxBadCommands) {
      this.err('[SYS/PERM] too many bad commands, closing');
      // Commands pipelined after this one are dropped unanswered, as after QUIT.
      this.ending = true;
      this.queue.length = 0;
      this.sock.end();
    }
  }

  private async handle(ev: LineEvent): Promise<void> {
    if (ev.kind === 'overlong') {
      this.saslPlain = false; // an overlong SASL response ends the exchange, it does not eat the next command
      return this.badCommand(`line too long (limit ${this.ctx.limits.maxLineLength} octets)`);
    }
    if (this.saslPlain) return this.saslResponse(ev.text);
    const m = /^([A-Za-z][A-Za-z0-9]{0,15})(?: (.*))?$/.exec(ev.text); // keywords are letters and digits (UTF8)
    if (!m) return this.badCommand('malformed command');
    const cmd = (m[1] ?? '').toUpperCase();
    const arg = m[2] ?? '';
    if (cmd === 'CAPA') return this.capa();
    if (cmd === 'QUIT') return this.quit();
    if (cmd === 'UTF8' && this.state === 'transaction') return this.badCommand('UTF8 only before login (AUTHORIZATION state)');
    if (cmd === 'LANG') return this.send(langCommand(arg));
    if (this.state === 'authorization') return this.authorization(cmd, arg);
    return this.transaction(cmd, arg);
  }

  private plaintextAllowed(): boolean {
    return this.secure || this.ctx.limits.allowInsecureAuth || this.ctx.plaintextOk.has(this.ip);
  }

  private refusePlaintext(): void {
    // With STLS on offer the client can fix it ([AUTH]); without TLS configured, or after UTF8 (RFC 6856 §2.1: no
    // STLS then), it never can on this connection ([SYS/PERM]).
    if (this.ctx.secureContext && !this.utf8) this.err('[AUTH] plaintext authentication disallowed without TLS; use STLS first');
    else this.err('[SYS/PERM] plaintext authentication disallowed on this connection');
    this.ctx.logins.inc({ result: 'insecure' });
  }

  /** RFC 2449 §5 CAPA. */
  private capa(): void {
    const authorization = this.state === 'authorization';
    // RFC 6856 §2: no STLS after UTF8, so it is not offered then
    const stlsOffered = !!this.ctx.secureContext && !this.secure && !this.utf8;
    const caps = capabilities({ authorization, stlsOffered, plaintextAllowed: this.plaintextAllowed() });
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
        // The APOP secret is the user's password kept in the clear (users add --apop), and the digest over an
        // unprotected connection can be replayed against a guess offline: refused where USER/PASS is. RFC 1939
        // §7 makes APOP optional; the banner keeps its timestamp, which is all a client can key on.
        if (!this.plaintextAllowed()) return this.refusePlaintext();
        const a = parseApop(arg);
        if (!a) return this.badCommand('usage: APOP name digest');
        return this.login(a.name, async (name) => verifyApop(this.ctx.users, this.timestamp, name, a.digest));
      }
      case 'AUTH':
        return this.auth(arg);
      case 'STLS':
        return this.stls();
      case 'UTF8':
        return this.utf8Command(arg);
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
    const r = readPlainResponse(text);
    switch (r.kind) {
      case 'cancelled':
        return this.err('authentication cancelled'); // RFC 5034 §4
      case 'bad-base64':
        return this.badCommand('invalid base64'); // RFC 5034 §4: MUST reject
      case 'malformed':
        return this.err('[AUTH] malformed PLAIN response');
      case 'foreign-authzid':
        return this.err('[AUTH] authorization identity not permitted');
      case 'credentials':
        return this.login(r.authc, (name) => this.ctx.users.authenticate(name, r.password));
    }
  }

  /**
   * RFC 6856 §2: UTF8 (no argument, AUTHORIZATION state only) switches the session to UTF-8 mode. Issued again it
   * changes nothing and is answered +OK as the first (the mode is a state, not a toggle).
   */
  private utf8Command(arg: string): void {
    if (arg !== '') return this.badCommand('usage: UTF8 (no argument)');
    this.utf8 = true;
    this.send('+OK UTF8 enabled');
  }

  /** RFC 2595 §4: STLS only before login; input buffered before the handshake is discarded. */
  private stls(): void {
    if (!this.ctx.secureContext) return this.badCommand('STLS not available');
    // RFC 6856 §2: clients MUST NOT issue STLS after UTF8; the server may refuse it (no response code: a protocol error)
    if (this.utf8) return this.badCommand('STLS not allowed after UTF8');
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
    // The attempt counts against the limits while it is verified (parallel sessions cannot outrun them).
    if (!(await this.ctx.throttle.begin(this.ip, who))) {
      record('throttled');
      return this.err('[SYS/TEMP] too many failed logins; try again later');
    }
    let user: string | undefined;
    try {
      user = await verify(who);
    } finally {
      this.ctx.throttle.settle(this.ip, who, user !== undefined);
    }
    if (this.state === 'closed') return;
    if (user === undefined) {
      record('failure');
      this.ctx.log.info('pop3 login failed', { session: this.id, ip: this.ip, user: who });
      return this.err('[AUTH] invalid user name or password');
    }
    let drop: Maildrop | 'in_use';
    try {
      drop = await Maildrop.lockAndOpen(this.ctx.store, this.ctx.locks, user, this.id);
    } catch (err) {
      this.ctx.log.error('pop3 cannot open maildrop', { session: this.id, user, err });
      return this.err('[SYS/TEMP] cannot open maildrop');
    }
    if (drop === 'in_use') {
      record('in_use'); // RFC 2449 §8.1.1: held by another session
      return this.err('[IN-USE] maildrop already locked by another session');
    }
    if ((this.state as State) === 'closed') return void this.ctx.locks.delete(user);
    drop.setForm(this.utf8, this.ctx.legacySizes);
    try {
      await drop.sizeAll(); // the greeting's size is STAT's: a legacy client's is of the downgraded messages
    } catch (err) {
      this.ctx.log.warn('pop3 cannot size maildrop', { session: this.id, user, err });
    }
    if ((this.state as State) === 'closed') return void this.releaseLockOf(user);
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
      this.updating = true;
      const result = await drop.update();
      this.updating = false;
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
    this.finish();
    this.sock.end();
  }
}
