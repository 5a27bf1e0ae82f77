// A small SMTP/LMTP client for handing mail to a next hop: EHLO/LHLO, opportunistic STARTTLS,
// one transaction at a time on a reusable connection, and a reply per recipient.
import net from 'node:net';
import tls from 'node:tls';
import type { NextHopReply } from '../queue/types.ts';

export interface NextHopClientOptions {
  host: string;
  port: number;
  /** 4 or 6 to force an address family when host is a name; 0 = any. */
  family?: 0 | 4 | 6;
  lmtp?: boolean;
  /** Name sent in EHLO/LHLO. */
  heloName: string;
  connectTimeout: number;
  commandTimeout: number;
  /** 'opportunistic' uses STARTTLS when offered and carries on in clear if the upgrade fails. */
  starttls: 'never' | 'opportunistic' | 'require';
  /** Verify the peer certificate (off by default for MX delivery, as most MTAs do). */
  tlsVerify: boolean;
  /** SNI / certificate name; defaults to host when it is a name. */
  servername?: string;
}

/** The connection failed, timed out or the peer broke the protocol: try elsewhere or later. */
export class NextHopConnectionError extends Error {
  constructor(
    message: string,
    readonly reply?: NextHopReply,
  ) {
    super(message);
    this.name = 'NextHopConnectionError';
  }
}

export interface TransactionResult {
  /** Final reply per recipient: its RCPT failure, or the data reply (LMTP: its own, RFC 2033 §4.2). */
  recipients: Map<string, NextHopReply>;
}

const CRLF = Buffer.from('\r\n');

/** RFC 5321 §4.5.2: a line starting with "." gets one more "."; the data ends with CRLF.CRLF. */
export function dotStuff(message: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  let lineStart = 0;
  while (lineStart < message.length) {
    if (message[lineStart] === 0x2e) {
      out.push(message.subarray(start, lineStart), Buffer.from('.'));
      start = lineStart;
    }
    const nl = message.indexOf(CRLF, lineStart);
    if (nl < 0) break;
    lineStart = nl + 2;
  }
  out.push(message.subarray(start));
  const endsWithCrlf = message.length >= 2 && message[message.length - 2] === 0x0d && message[message.length - 1] === 0x0a;
  out.push(Buffer.from(endsWithCrlf || message.length === 0 ? '.\r\n' : '\r\n.\r\n'));
  return out;
}

export function parseReplyLines(lines: string[]): NextHopReply {
  const first = lines[0] ?? '';
  const code = Number(first.slice(0, 3));
  const texts = lines.map((l) => l.slice(4));
  const enh = /^([245]\.\d{1,3}\.\d{1,3})\s+/.exec(texts[0] ?? '');
  if (enh?.[1] && enh[1][0] === String(code)[0]) {
    texts[0] = (texts[0] ?? '').slice(enh[0].length);
    return { code, enhanced: enh[1], text: texts.join(' ') };
  }
  return { code, text: texts.join(' ') };
}

export class NextHopClient {
  private socket: net.Socket;
  private buffer = '';
  private partial: string[] = [];
  private replies: NextHopReply[] = [];
  private waiter: ((r: NextHopReply | Error) => void) | undefined;
  private closedError: Error | undefined;
  extensions = new Set<string>();
  maxSize = 0;
  secure = false;
  messagesSent = 0;
  readonly createdAt = Date.now();

  private constructor(
    socket: net.Socket,
    readonly options: NextHopClientOptions,
  ) {
    this.socket = socket;
    this.attach(socket);
  }

  static async connect(options: NextHopClientOptions): Promise<NextHopClient> {
    const socket = net.connect({ host: options.host, port: options.port, ...(options.family ? { family: options.family } : {}) });
    socket.setNoDelay(true);
    const client = new NextHopClient(socket, options);
    try {
      await client.within(options.connectTimeout, 'connect', async () => {
        await new Promise<void>((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('error', reject);
        });
        const greeting = await client.read();
        // RFC 5321 §3.1: a 554 (or any non-220) greeting means no service here.
        if (greeting.code !== 220) throw new NextHopConnectionError(`greeting ${greeting.code} ${greeting.text}`, greeting);
        await client.hello();
      });
      if (options.starttls !== 'never' && client.extensions.has('STARTTLS')) {
        try {
          await client.startTls();
        } catch (err) {
          if (options.starttls === 'require') throw err;
          // Opportunistic TLS failed (handshake, bad reply): the clear session is gone, start over without TLS.
          client.destroy();
          return await NextHopClient.connect({ ...options, starttls: 'never' });
        }
      } else if (options.starttls === 'require') throw new NextHopConnectionError('STARTTLS required but not offered');
      return client;
    } catch (err) {
      client.destroy();
      throw err instanceof NextHopConnectionError ? err : new NextHopConnectionError(`${options.host}:${options.port}: ${(err as Error).message}`);
    }
  }

  get usable(): boolean {
    return this.closedError === undefined && !this.socket.destroyed;
  }

  /** One transaction. Throws NextHopConnectionError when the connection breaks midway. */
  async send(from: string, rcptTo: readonly string[], message: Buffer): Promise<TransactionResult> {
    const recipients = new Map<string, NextHopReply>();
    if (this.maxSize > 0 && message.length > this.maxSize) {
      // RFC 1870 §6: do not send what the server said it will not take.
      for (const r of rcptTo) recipients.set(r, { code: 552, enhanced: '5.3.4', text: `message size ${message.length} exceeds server limit ${this.maxSize}` });
      return { recipients };
    }
    let params = this.extensions.has('SIZE') ? ` SIZE=${message.length}` : '';
    if (this.extensions.has('8BITMIME') && message.some((b) => b > 127)) params += ' BODY=8BITMIME';
    const envelope = await this.envelope(`MAIL FROM:<${from}>${params}`, rcptTo);
    const { mail, rcpts, data } = envelope;
    if (mail.code !== 250) {
      for (const r of rcptTo) recipients.set(r, mail);
      if (data?.code === 354) await this.abortData();
      await this.reset();
      return { recipients };
    }
    const accepted: string[] = [];
    rcptTo.forEach((r, i) => {
      const reply = rcpts[i];
      if (reply && (reply.code === 250 || reply.code === 251)) accepted.push(r);
      else if (reply) recipients.set(r, reply);
    });
    if (!accepted.length) {
      if (data?.code === 354) await this.abortData();
      await this.reset();
      return { recipients };
    }
    const dataReply = data ?? (await this.command('DATA'));
    if (dataReply.code !== 354) {
      for (const r of accepted) recipients.set(r, dataReply);
      await this.reset();
      return { recipients };
    }
    this.socket.write(Buffer.concat(dotStuff(message)));
    if (this.options.lmtp) {
      // RFC 2033 §4.2: one reply per recipient that was accepted at RCPT, in order.
      for (const r of accepted) recipients.set(r, await this.read());
    } else {
      const final = await this.read();
      for (const r of accepted) recipients.set(r, final);
    }
    this.messagesSent++;
    return { recipients };
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
    this.closedError ??= new Error('connection closed');
    this.socket.destroy();
  }

  private async hello(): Promise<void> {
    const verb = this.options.lmtp ? 'LHLO' : 'EHLO';
    let reply = await this.command(`${verb} ${this.options.heloName}`);
    if (reply.code !== 250 && !this.options.lmtp) reply = await this.command(`HELO ${this.options.heloName}`);
    if (reply.code !== 250) throw new NextHopConnectionError(`${verb} refused: ${reply.code} ${reply.text}`, reply);
    this.extensions = new Set();
    for (const line of this.lastLines.slice(1)) {
      const [kw, arg] = line.slice(4).toUpperCase().split(/\s+/);
      if (!kw) continue;
      this.extensions.add(kw);
      if (kw === 'SIZE' && arg) this.maxSize = Number(arg) || 0;
    }
  }

  private async startTls(): Promise<void> {
    const reply = await this.command('STARTTLS');
    if (reply.code !== 220) {
      if (this.options.starttls === 'require') throw new NextHopConnectionError(`STARTTLS refused: ${reply.code} ${reply.text}`, reply);
      return;
    }
    const plain = this.socket;
    plain.removeAllListeners('data');
    const name = this.options.servername ?? (net.isIP(this.options.host) ? undefined : this.options.host);
    const secure = tls.connect({ socket: plain, rejectUnauthorized: this.options.tlsVerify, ...(name ? { servername: name } : {}) });
    this.socket = secure;
    this.attach(secure);
    await this.within(this.options.connectTimeout, 'TLS handshake', () => new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    }));
    this.secure = true;
    // RFC 3207 §4.2: forget what was learnt before TLS and say hello again.
    await this.hello();
  }

  /**
   * MAIL and RCPTs, one command at a time, or in one write with DATA when the server offers
   * PIPELINING (RFC 2920 §3.1: replies are then read in order).
   */
  private async envelope(mailLine: string, rcptTo: readonly string[]): Promise<{ mail: NextHopReply; rcpts: NextHopReply[]; data?: NextHopReply }> {
    if (!this.extensions.has('PIPELINING')) {
      const mail = await this.command(mailLine);
      const rcpts: NextHopReply[] = [];
      if (mail.code === 250) for (const r of rcptTo) rcpts.push(await this.command(`RCPT TO:<${r}>`));
      return { mail, rcpts };
    }
    if (this.closedError) throw new NextHopConnectionError(this.closedError.message);
    this.socket.write([mailLine, ...rcptTo.map((r) => `RCPT TO:<${r}>`), 'DATA', ''].join('\r\n'));
    const mail = await this.read();
    const rcpts: NextHopReply[] = [];
    for (let i = 0; i < rcptTo.length; i++) rcpts.push(await this.read());
    const data = await this.read();
    if ([mail, ...rcpts, data].some((r) => r.code === 421)) this.destroy();
    return { mail, rcpts, data };
  }

  /** A 354 after every recipient failed: end the (empty) data so the session stays usable. */
  private async abortData(): Promise<void> {
    await this.command('.');
  }

  private async reset(): Promise<void> {
    const r = await this.command('RSET');
    if (r.code !== 250) throw new NextHopConnectionError(`RSET failed: ${r.code} ${r.text}`, r);
  }

  private lastLines: string[] = [];

  private attach(socket: net.Socket): void {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('connection closed by peer')));
  }

  private fail(err: Error): void {
    this.closedError ??= err;
    const w = this.waiter;
    this.waiter = undefined;
    w?.(this.closedError);
  }

  private onData(chunk: Buffer): void {
    this.buffer += chunk.toString('latin1');
    if (this.buffer.length > 1_000_000) return this.fail(new Error('reply too long'));
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).replace(/\r$/, '');
      this.buffer = this.buffer.slice(nl + 1);
      this.partial.push(line);
      if (/^\d{3}-/.test(line)) continue;
      this.lastLines = this.partial;
      this.partial = [];
      const reply = /^\d{3}/.test(line) ? parseReplyLines(this.lastLines) : { code: 0, text: line };
      const w = this.waiter;
      this.waiter = undefined;
      if (w) w(reply);
      else this.replies.push(reply);
    }
  }

  private read(timeout = this.options.commandTimeout): Promise<NextHopReply> {
    const queued = this.replies.shift();
    if (queued) return Promise.resolve(queued);
    if (this.closedError) return Promise.reject(new NextHopConnectionError(this.closedError.message));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        this.destroy();
        reject(new NextHopConnectionError(`timeout after ${timeout} ms waiting for a reply`));
      }, timeout);
      this.waiter = (r) => {
        clearTimeout(timer);
        if (r instanceof Error) reject(new NextHopConnectionError(r.message));
        else if (r.code === 0) reject(new NextHopConnectionError(`malformed reply: ${r.text.slice(0, 100)}`));
        else resolve(r);
      };
    });
  }

  private async command(line: string, timeout?: number): Promise<NextHopReply> {
    if (this.closedError) throw new NextHopConnectionError(this.closedError.message);
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
