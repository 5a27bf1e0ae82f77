// A small SMTP/LMTP client for handing mail to a next hop: EHLO/LHLO, opportunistic STARTTLS or implicit TLS
// (RFC 8314; options and failures in next-hop-tls.ts), SMTP AUTH for a relay host (next-hop-auth.ts), one
// transaction at a time on a reusable connection (what may be sent: next-hop-payload.ts), and a reply per recipient.
import net from 'node:net';
import tls from 'node:tls';
import type { DsnParameters, NextHopReply } from '../queue/types.ts';
import { mailParameters, rcptParameters } from './next-hop-params.ts';
import { authenticate, authMechanismsOf, isLoopbackAddress, authError, type NextHopAuth } from './next-hop-auth.ts';
import type { NextHopClientOptions, TransactionResult } from './next-hop-options.ts';
import { finalReply, notAccepted, payloadFor, withLineLengthNote } from './next-hop-payload.ts';
import { errorCode, handshakeError, PEER_CHECK_FAILED, tlsError, tlsOptions } from './next-hop-tls.ts';
import { dotStuff, NextHopConnectionError, ReplyReader, type TlsFailure } from './next-hop-wire.ts';
import { xforwardCommands, type ClientOrigin } from './next-hop-xforward.ts';
import { boundedText, LOGGED_REPLY_MAX } from '../util/reply-text.ts';

export { NextHopConnectionError, type TlsFailure } from './next-hop-wire.ts';
export type { NextHopClientOptions, TransactionResult } from './next-hop-options.ts';
export { PEER_CHECK_FAILED } from './next-hop-tls.ts';

export class NextHopClient {
  private socket: net.Socket;
  private readonly reader = new ReplyReader(() => this.destroy());
  extensions = new Set<string>();
  /** The attributes the next hop lists after XFORWARD in its EHLO reply. */
  xforwardAttributes = new Set<string>();
  /** The SASL mechanisms the next hop lists after AUTH in its EHLO reply. */
  authMechanisms = new Set<string>();
  maxSize = 0;
  secure = false;
  /**
   * After STARTTLS: the certificate chains to a trusted root and carries the expected name (node checks both
   * even when it does not reject a failure), and what failed if not. Lets a caller report a failure it lets pass.
   */
  tlsAuthorized = false;
  tlsAuthorizationError: string | undefined;
  /** node's code for tlsAuthorizationError (CERT_HAS_EXPIRED, ERR_TLS_CERT_ALTNAME_INVALID, …). */
  tlsAuthorizationCode: string | undefined;
  /** A plain session that opportunistic TLS fell back to: what failed on the connection before it. */
  tlsFallback: { failure: TlsFailure; message: string; code?: string } | undefined;
  messagesSent = 0;
  /**
   * The last send() handed its whole message body, final dot included, to the kernel: if the connection then
   * broke without a reply, the server may have taken it, and sending it again at once (another address,
   * another MX, rather than after the queue's retry delay) only adds a duplicate. A write that failed is not
   * that case. The kernel taking the data is not the server reading it: a message that fits in the socket
   * buffers and is dropped partway is deferred too, erring towards no duplicate.
   */
  bodyWritten = false;
  readonly createdAt = Date.now();

  private constructor(
    socket: net.Socket,
    readonly options: NextHopClientOptions,
  ) {
    this.socket = socket;
    this.reader.attach(socket);
  }

  static async connect(options: NextHopClientOptions): Promise<NextHopClient> {
    const family = { ...(options.family ? { family: options.family } : {}), ...(options.localAddress ? { localAddress: options.localAddress } : {}) };
    const socket = options.implicitTls
      ? tls.connect({ port: options.port, ...family, ...tlsOptions(options) })
      : net.connect({ host: options.host, port: options.port, ...family });
    socket.setNoDelay(true);
    const client = new NextHopClient(socket, options);
    const { signal } = options;
    if (signal) {
      if (signal.aborted) client.destroy();
      else signal.addEventListener('abort', () => client.destroy(), { once: true });
    }
    try {
      await client.within(options.connectTimeout, 'connect', () => new Promise<void>((resolve, reject) => {
        const implicit = socket instanceof tls.TLSSocket;
        // with implicit TLS, an error before the TCP connection is up is a connection failure, not a TLS one
        let tcpUp = false;
        socket.once('connect', () => void (tcpUp = true));
        socket.once(implicit ? 'secureConnect' : 'connect', resolve);
        socket.once('error', (err: Error) => reject(implicit && tcpUp ? handshakeError(socket, err, options) : err));
        socket.once('close', () => reject(new Error('connection closed')));
      }));
      client.connectedFrom = socket.localAddress;
      if (socket instanceof tls.TLSSocket) {
        client.tlsUp(socket);
        client.checkPeer(socket);
      }
      // RFC 5321 §4.5.3.2.1: the greeting gets as long as a command (5 minutes by default), since some
      // servers delay it on purpose; only the TCP connect is held to connectTimeout.
      const greeting = await client.read();
      // RFC 5321 §3.1: a 554 (or any non-220) greeting means no service here.
      if (greeting.code !== 220) throw new NextHopConnectionError(`greeting ${greeting.code} ${boundedText(greeting.text, LOGGED_REPLY_MAX)}`, greeting);
      await client.hello();
      if (options.starttls !== 'never' && !options.implicitTls && client.extensions.has('STARTTLS')) {
        try {
          await client.startTls();
        } catch (err) {
          // With tls_verify a certificate that fails (or a handshake that does) must not lead to the same
          // message going in clear: the point of verifying is that nobody in between reads it.
          if (options.starttls === 'require' || options.tlsVerify) throw err;
          // Opportunistic TLS failed (handshake, bad reply): the clear session is gone, start over without TLS.
          client.destroy();
          const plain = await NextHopClient.connect({ ...options, starttls: 'never' });
          if (err instanceof NextHopConnectionError && err.tlsFailure) plain.tlsFallback = { failure: err.tlsFailure, message: err.message, ...(err.tlsCode ? { code: err.tlsCode } : {}) };
          return plain;
        }
      } else if (options.starttls === 'require' && !options.implicitTls) throw tlsError('STARTTLS required but not offered', 'not_offered');
      if (options.auth) await client.login(options.auth);
      return client;
    } catch (err) {
      const localAddress = client.localAddress;
      client.destroy();
      const e = err instanceof NextHopConnectionError ? err : new NextHopConnectionError(`${options.host}:${options.port}: ${(err as Error).message}`);
      if (localAddress && e.localAddress === undefined) e.localAddress = localAddress;
      throw e;
    }
  }

  /** The local address the connection left from, noted once connected (a destroyed socket no longer says). */
  private connectedFrom: string | undefined;

  /** The local address the connection leaves from (for TLS reports, RFC 8460 §4.4 sending-mta-ip). */
  get localAddress(): string | undefined {
    return this.socket.localAddress ?? this.connectedFrom;
  }

  get usable(): boolean {
    return this.reader.closed === undefined && !this.socket.destroyed;
  }

  /**
   * One transaction, with the sender's DSN requests when the next hop offers DSN (RFC 3461 §5.2.1).
   * Throws NextHopConnectionError when the connection breaks midway.
   */
  async send(from: string, rcptTo: readonly string[], message: Buffer, dsn?: DsnParameters, origin?: ClientOrigin): Promise<TransactionResult> {
    this.bodyWritten = false;
    const recipients = new Map<string, NextHopReply>();
    const result = { recipients, dsnPassedOn: this.extensions.has('DSN') };
    const payload = payloadFor(this.extensions, this.maxSize, from, rcptTo, message, dsn);
    if ('refusal' in payload) {
      for (const r of rcptTo) recipients.set(r, { ...payload.refusal });
      return result;
    }
    message = payload.message;
    if (origin && this.options.xforward) await this.xforward(origin);
    const mailLine = `MAIL FROM:<${from}>${mailParameters(this.extensions, message, dsn)}`;
    const rcptLines = rcptTo.map((r) => `RCPT TO:<${r}>${rcptParameters(this.extensions, dsn?.rcptDsn?.[r])}`);
    const { mail, rcpts, data } = await this.envelope(mailLine, rcptLines);
    if (mail.code !== 250) {
      for (const r of rcptTo) recipients.set(r, notAccepted(mail, 'MAIL'));
      if (data?.code === 354) await this.abortData();
      await this.reset();
      return result;
    }
    const accepted: string[] = [];
    rcptTo.forEach((r, i) => {
      const reply = rcpts[i];
      if (reply && (reply.code === 250 || reply.code === 251)) accepted.push(r);
      else if (reply) recipients.set(r, notAccepted(reply, 'RCPT'));
    });
    if (!accepted.length) {
      if (data?.code === 354) await this.abortData();
      await this.reset();
      return result;
    }
    const dataReply = data ?? (await this.command('DATA'));
    if (dataReply.code !== 354) {
      for (const r of accepted) recipients.set(r, notAccepted(dataReply, 'DATA'));
      // a success code to DATA leaves it unclear whether the server now reads the message: start afresh
      if (dataReply.code < 400) this.destroy();
      else await this.reset();
      return result;
    }
    this.socket.write(Buffer.concat(dotStuff(message)), (err) => {
      if (!err) this.bodyWritten = true;
    });
    // RFC 5321 §4.5.3.2.6: the reply to the end of data gets 10 minutes (dataTimeout; by default twice a
    // command's time, 10 minutes for MX delivery); giving up earlier risks a duplicate when the server accepts after all.
    const dataEndTimeout = this.options.dataTimeout ?? 2 * this.options.commandTimeout;
    if (this.options.lmtp) {
      // RFC 2033 §4.2: one reply per recipient that was accepted at RCPT, in order.
      for (const r of accepted) recipients.set(r, withLineLengthNote(finalReply(await this.read(dataEndTimeout)), message));
    } else {
      const final = withLineLengthNote(finalReply(await this.read(dataEndTimeout)), message);
      for (const r of accepted) recipients.set(r, final);
    }
    this.messagesSent++;
    return result;
  }

  /**
   * Asks whether the next hop takes `rcpt` without sending anything: MAIL FROM:<> (a probe must not cause mail
   * back), RCPT, RSET. The RCPT reply is undefined when MAIL was refused (no verdict on the recipient then).
   */
  async probeRecipient(rcpt: string, smtputf8: boolean): Promise<{ mail: NextHopReply; rcpt?: NextHopReply }> {
    const mail = await this.command(`MAIL FROM:<>${smtputf8 ? ' SMTPUTF8' : ''}`);
    if (mail.code !== 250) return { mail };
    const reply = await this.command(`RCPT TO:<${rcpt}>`);
    await this.reset();
    return { mail, rcpt: reply };
  }

  async quit(): Promise<void> {
    if (!this.usable) return this.destroy();
    try {
      await this.command('QUIT', Math.min(this.options.commandTimeout, 2000));
    } catch {
      // Closing anyway.
    }
    this.socket.end();
    this.destroy();
  }

  destroy(): void {
    this.reader.markClosed(new Error('connection closed'));
    this.socket.destroy();
  }

  private async hello(): Promise<void> {
    const verb = this.options.lmtp ? 'LHLO' : 'EHLO';
    let reply = await this.command(`${verb} ${this.options.heloName}`);
    if (reply.code !== 250 && !this.options.lmtp) reply = await this.command(`HELO ${this.options.heloName}`);
    if (reply.code !== 250) throw new NextHopConnectionError(`${verb} refused: ${reply.code} ${boundedText(reply.text, LOGGED_REPLY_MAX)}`, reply);
    this.extensions = new Set();
    this.xforwardAttributes = new Set();
    this.authMechanisms = new Set();
    for (const line of this.reader.lastLines.slice(1)) {
      const [kw, arg, ...more] = line.slice(4).toUpperCase().split(/\s+/);
      if (!kw) continue;
      this.extensions.add(kw);
      if (kw === 'SIZE' && arg) this.maxSize = Number(arg) || 0;
      if (kw === 'XFORWARD') this.xforwardAttributes = new Set([arg ?? '', ...more].filter(Boolean));
      const mechanisms = authMechanismsOf(kw, [arg ?? '', ...more].filter(Boolean));
      if (mechanisms) for (const m of mechanisms) this.authMechanisms.add(m);
    }
  }

  private async startTls(): Promise<void> {
    const reply = await this.command('STARTTLS');
    if (reply.code !== 220) {
      if (this.options.starttls === 'require') throw tlsError(`STARTTLS refused: ${reply.code} ${boundedText(reply.text, LOGGED_REPLY_MAX)}`, 'refused', reply);
      return;
    }
    // RFC 3207 §4.2 / §6: anything the server sent after its 220 came in plain text and may have been
    // injected on the way; it must not be read as the first reply over TLS, so the connection is given up.
    if (this.reader.hasUnread) throw new NextHopConnectionError('plain-text data after the 220 reply to STARTTLS (response injection?)');
    const plain = this.socket;
    plain.removeAllListeners('data');
    const secure = tls.connect({ socket: plain, ...tlsOptions(this.options) });
    this.socket = secure;
    this.reader.attach(secure);
    await this.within(this.options.connectTimeout, 'TLS handshake', () => new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', (err: Error) => reject(handshakeError(secure, err, this.options)));
    }));
    this.tlsUp(secure);
    this.checkPeer(secure);
    // RFC 3207 §4.2: forget what was learnt before TLS and say hello again.
    await this.hello();
  }

  /** The caller's peerCheck: a refusal is a certificate failure (its code PEER_CHECK_FAILED), and nothing is sent. */
  private checkPeer(secure: tls.TLSSocket): void {
    const refused = this.options.peerCheck?.(secure);
    if (!refused) return;
    const e = tlsError(refused.message, 'certificate');
    e.tlsCode = PEER_CHECK_FAILED;
    throw e;
  }

  /** Records a finished handshake (after STARTTLS, or at connect with implicit TLS). */
  private tlsUp(secure: tls.TLSSocket): void {
    this.secure = true;
    this.tlsAuthorized = secure.authorized;
    this.tlsAuthorizationError = secure.authorized ? undefined : String(secure.authorizationError ?? 'not verified');
    this.tlsAuthorizationCode = secure.authorized ? undefined : errorCode(secure.authorizationError);
  }

  /**
   * RFC 4954 §4 and §14: credentials go only over TLS; in clear only to an address of this machine, whatever
   * the caller asked (a relay whose STARTTLS was skipped or failed gets no password).
   */
  private async login(auth: NextHopAuth): Promise<void> {
    if (!this.secure && !isLoopbackAddress(this.socket.remoteAddress)) {
      throw authError(`the connection to ${this.options.host}:${this.options.port} is not encrypted: the password is not sent in clear`);
    }
    await authenticate((line) => this.command(line), this.authMechanisms, auth);
  }

  /**
   * MAIL and RCPTs, one command at a time, or in one write with DATA when the server offers
   * PIPELINING (RFC 2920 §3.1: replies are then read in order).
   */
  private async envelope(mailLine: string, rcptLines: readonly string[]): Promise<{ mail: NextHopReply; rcpts: NextHopReply[]; data?: NextHopReply }> {
    if (!this.extensions.has('PIPELINING')) {
      const mail = await this.command(mailLine);
      const rcpts: NextHopReply[] = [];
      if (mail.code === 250) for (const line of rcptLines) rcpts.push(await this.command(line));
      return { mail, rcpts };
    }
    const closed = this.reader.closed;
    if (closed) throw new NextHopConnectionError(closed.message);
    this.socket.write([mailLine, ...rcptLines, 'DATA', ''].join('\r\n'));
    const mail = await this.read();
    const rcpts: NextHopReply[] = [];
    for (let i = 0; i < rcptLines.length; i++) rcpts.push(await this.read());
    const data = await this.read();
    if ([mail, ...rcpts, data].some((r) => r.code === 421)) this.destroy();
    return { mail, rcpts, data };
  }

  /**
   * XFORWARD before MAIL FROM, one command at a time (it is not among RFC 2920's pipelinable commands).
   * A refusal only means the next hop records us as the client, as without XFORWARD: the mail goes on.
   */
  private async xforward(origin: ClientOrigin): Promise<void> {
    if (!this.extensions.has('XFORWARD')) return;
    for (const line of xforwardCommands(this.xforwardAttributes, origin)) {
      if ((await this.command(line)).code !== 250) return;
    }
  }

  /** A 354 after every recipient failed: end the (empty) data so the session stays usable. */
  private async abortData(): Promise<void> {
    await this.command('.');
  }

  /**
   * RSET after a transaction that delivered to nobody. The replies are final by then: a next hop that refuses
   * the RSET or ends the session (its error limit reached: refused recipients and the pipelined DATA count)
   * does not make them a connection failure, which deferred recipients it had refused for good. The
   * connection is dropped instead of going back to the pool.
   */
  private async reset(): Promise<void> {
    const r = await this.command('RSET').catch(() => undefined);
    if (r?.code !== 250) this.destroy();
  }

  private read(timeout = this.options.commandTimeout): Promise<NextHopReply> {
    return this.reader.read(timeout);
  }

  private async command(line: string, timeout?: number): Promise<NextHopReply> {
    const closed = this.reader.closed;
    if (closed) throw new NextHopConnectionError(closed.message);
    this.socket.write(`${line}\r\n`);
    const reply = await this.read(timeout);
    // RFC 5321 §3.8: 421 means the server is closing the channel.
    if (reply.code === 421) this.destroy();
    return reply;
  }

  private async within<T>(ms: number, what: string, fn: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_r, reject) => {
      timer = setTimeout(() => {
        this.destroy();
        reject(new NextHopConnectionError(`${what} timeout after ${ms} ms`));
      }, ms);
    });
    try {
      return await Promise.race([fn(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
