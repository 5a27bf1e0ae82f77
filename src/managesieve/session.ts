// One ManageSieve session (RFC 5804): greeting, STARTTLS, AUTHENTICATE PLAIN, then the script commands; LOGOUT,
// CAPABILITY, NOOP and UNAUTHENTICATE. Commands run one at a time in arrival order.
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { readPlainResponse } from '../pop3/sasl-plain.ts';
import { whenDrained, writeLine } from '../pop3/output.ts';
import { CLI_SCRIPT } from '../mailhost/sieve-store.ts';
import { normalizeIp } from '../util/cidr.ts';
import { capabilityLines } from './capabilities.ts';
import type { LoginResult, SessionContext } from './context.ts';
import { CommandReader, wireString, type ReadEvent, type Token } from './reader.ts';
import { no, ok, scriptCommand, strings } from './script-commands.ts';

export class ManageSieveSession {
  private sock: Socket;
  private secure = false;
  private user: string | undefined;
  /** AUTHENTICATE "PLAIN" without an initial response: the next command is the client's response (§2.1). */
  private saslPending = false;
  private closed = false;
  private readonly queue: ReadEvent[] = [];
  private busy = false;
  private commands = 0;
  private bad = 0;
  private readonly reader: CommandReader;
  private readonly ip: string;
  private readonly onData = (chunk: Buffer): void => this.receive(chunk);

  constructor(
    private readonly ctx: SessionContext,
    socket: Socket,
    readonly id: string,
  ) {
    this.sock = socket;
    this.ip = normalizeIp(socket.remoteAddress ?? '');
    this.reader = new CommandReader({ maxLine: ctx.limits.maxLine, maxLiteral: ctx.limits.maxScriptSize });
  }

  start(): void {
    this.attach(this.sock);
    this.send([...this.capabilities(), ok('spamgate ManageSieve ready')].join('\r\n'));
  }

  private attach(sock: Socket): void {
    sock.on('data', this.onData);
    sock.on('error', (err) => {
      this.ctx.log.debug('managesieve socket error', { session: this.id, err });
      sock.destroy();
    });
    sock.on('close', () => (this.closed = true));
    sock.setTimeout(this.ctx.limits.idleTimeoutMs, () => this.bye('idle for too long'));
  }

  private capabilities(): string[] {
    return capabilityLines({ starttls: !!this.ctx.secureContext && !this.secure, saslPlain: this.plaintextAllowed() });
  }

  /** House rule: a password travels only under TLS, or from loopback. */
  private plaintextAllowed(): boolean {
    return this.secure || this.ctx.plaintextOk.has(this.ip);
  }

  private send(text: string): void {
    writeLine(this.sock, text);
  }

  private bye(text: string, code?: string): void {
    this.send(`BYE${code ? ` (${code})` : ''} "${text}"`);
    this.closed = true;
    this.queue.length = 0;
    this.sock.end();
  }

  private receive(chunk: Buffer): void {
    if (this.closed) return;
    this.queue.push(...this.reader.push(chunk));
    if (this.queue.length > 20) this.sock.pause();
    if (!this.busy) void this.pump();
  }

  private async pump(): Promise<void> {
    this.busy = true;
    try {
      for (let ev = this.queue.shift(); ev !== undefined && !this.closed; ev = this.queue.shift()) {
        try {
          await this.handle(ev);
        } catch (err) {
          this.ctx.log.error('managesieve command failed', { session: this.id, err });
          this.send(no('internal error', 'TRYLATER'));
        }
        await whenDrained(this.sock);
        if (this.queue.length < 10 && this.sock.isPaused()) this.sock.resume();
      }
    } finally {
      this.busy = false;
    }
  }

  private refuse(text: string, code?: string): void {
    this.bad++;
    this.send(no(text, code));
    if (this.bad >= this.ctx.limits.maxBadCommands) this.bye('too many bad commands');
  }

  private async handle(ev: ReadEvent): Promise<void> {
    // RFC 5804 §1.2 continuation for a synchronizing literal
    if (ev.kind === 'continue') return this.send('+ "go ahead"');
    if (ev.kind === 'bad') {
      this.saslPending = false;
      return this.refuse(ev.reason, ev.tooBig ? 'QUOTA/MAXSIZE' : undefined);
    }
    if (this.saslPending) return this.saslResponse(ev.tokens);
    if (this.user === undefined && ++this.commands > this.ctx.limits.maxCommandsBeforeAuth) return this.bye('too many commands before login');
    const [head, ...args] = ev.tokens;
    if (head?.kind !== 'atom') return this.refuse('expected a command name');
    const cmd = head.value.toUpperCase();
    switch (cmd) {
      case 'CAPABILITY':
        return this.send([...this.capabilities(), ok()].join('\r\n'));
      case 'LOGOUT':
        this.send(ok('bye'));
        this.closed = true;
        return void this.sock.end();
      case 'NOOP': {
        // RFC 5804 §2.13: a string argument comes back in a TAG response code
        const tag = strings(args, 1);
        if (args.length && !tag) return this.refuse('usage: NOOP [tag]');
        return this.send(tag ? `OK (TAG ${wireString(tag[0] ?? '')}) "done"` : ok('done'));
      }
      case 'STARTTLS':
        return this.starttls();
      case 'AUTHENTICATE':
        return this.authenticate(args);
      case 'UNAUTHENTICATE':
        if (this.user === undefined) return this.refuse('not logged in');
        this.user = undefined;
        this.commands = 0;
        return this.send(ok());
    }
    if (this.user === undefined) return this.refuse(`${cmd} needs a login first`);
    this.send(scriptCommand(this.ctx.store, this.user, this.ctx.limits, cmd, args));
  }

  /** RFC 5804 §2.2: only before login; buffered input is dropped, and capabilities are sent again after the handshake. */
  private starttls(): void {
    if (!this.ctx.secureContext) return this.refuse('STARTTLS not available');
    if (this.secure) return this.refuse('already using TLS');
    if (this.user !== undefined) return this.refuse('STARTTLS only before login');
    this.send(ok('begin TLS negotiation'));
    const plain = this.sock;
    plain.off('data', this.onData);
    plain.setTimeout(0);
    this.reader.reset();
    this.queue.length = 0;
    const tlsSock = new TLSSocket(plain, { isServer: true, secureContext: this.ctx.secureContext });
    this.sock = tlsSock;
    this.secure = true;
    this.attach(tlsSock);
    tlsSock.once('secure', () => this.send([...this.capabilities(), ok('TLS active')].join('\r\n')));
  }

  /** RFC 5804 §2.1: AUTHENTICATE "PLAIN" with an initial response, or an empty challenge ("") and the client's reply. */
  private async authenticate(args: readonly Token[]): Promise<void> {
    if (this.user !== undefined) return this.refuse('already logged in');
    const mech = args[0];
    if (mech?.kind !== 'string' || args.length > 2 || (args[1] && args[1].kind !== 'string')) return this.refuse('usage: AUTHENTICATE PLAIN [initial response]');
    if (mech.value.toUpperCase() !== 'PLAIN') return this.refuse('unsupported SASL mechanism (PLAIN only)');
    if (!this.plaintextAllowed()) {
      this.record('insecure');
      return this.send(no('PLAIN needs TLS: use STARTTLS first', 'ENCRYPT-NEEDED'));
    }
    const initial = args[1];
    if (initial === undefined) {
      this.saslPending = true;
      return this.send('""');
    }
    return this.plain(initial.value);
  }

  private async saslResponse(tokens: readonly Token[]): Promise<void> {
    this.saslPending = false;
    const r = strings(tokens, 1);
    if (!r) return this.refuse('expected a string as the SASL response');
    return this.plain(r[0] ?? '');
  }

  private record(result: LoginResult): void {
    this.ctx.logins.inc({ result });
  }

  private async plain(response: string): Promise<void> {
    const r = readPlainResponse(response);
    if (r.kind === 'cancelled') return this.send(no('authentication cancelled')); // RFC 5804 §2.1: "*" aborts
    if (r.kind !== 'credentials') return this.refuse('malformed PLAIN response');
    const who = r.authc.toLowerCase();
    if (!(await this.ctx.throttle.begin(this.ip, who))) {
      this.record('throttled');
      return this.send(no('too many failed logins; try again later', 'TRYLATER'));
    }
    let user: string | undefined;
    try {
      user = await this.ctx.authenticate(who, r.password);
    } finally {
      this.ctx.throttle.settle(this.ip, who, user !== undefined);
    }
    if (this.closed) return;
    if (user === undefined) {
      this.record('failure');
      this.ctx.log.info('managesieve login failed', { session: this.id, ip: this.ip, user: who });
      return this.send(no('invalid user name or password'));
    }
    this.user = user;
    this.record('success');
    this.ctx.store.adoptUnnamed(user, CLI_SCRIPT);
    this.ctx.log.info('managesieve login', { session: this.id, ip: this.ip, user, tls: this.secure });
    this.send(ok('logged in'));
  }
}
