// spamgate's own SMTP listener: connection limits, PROXY protocol from trusted proxies and the
// pre-greet test (postscreen-style), then the socket is handed to the smtp-server session code.
import { randomBytes } from 'node:crypto';
import net, { type AddressInfo, type Socket } from 'node:net';
import tls from 'node:tls';
import { clientKey } from '../limits/client-key.ts';
import type { CidrSet } from '../util/cidr.ts';
import { normalizeIp } from '../util/cidr.ts';
import type { Logger } from '../util/logger.ts';
import { readProxyHeader } from './proxy-protocol.ts';

export interface AcceptedClient {
  id: string;
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
  /** The client sent data before the greeting (pre-greet test), with what it sent. */
  pregreet?: string;
}

/**
 * The listener's close handler of a socket (gives back its connection slots). smtp-server's STARTTLS strips every
 * listener of the plain socket, this one too; the session code puts it back (see GatewayConnection.upgrade).
 */
export const RELEASE_ON_CLOSE: unique symbol = Symbol('spamgate.releaseOnClose');
export type CountedSocket = Socket & { [RELEASE_ON_CLOSE]?: () => void };

/** Why the listener itself refused a connection (before any session): the `result` label of the connections counter. */
export type ListenerRefusal = 'too_many' | 'too_many_per_ip' | 'proxy_error';

/** What the listener asks before handing a client over: undefined to proceed, or a reply to close with. */
export type AdmitDecision = { refuse: string } | undefined;

export interface ListenerOptions {
  proxyFrom: CidrSet;
  proxyTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerIp: number;
  /** Pre-greet delay for this client (0 = greet at once). */
  greetDelayFor(ip: string): number;
  /** Called after PROXY and the pre-greet test; may refuse (rate limits, pre-greet policy). */
  admit(client: AcceptedClient): Promise<AdmitDecision>;
  handOver(socket: Socket, client: AcceptedClient): void;
  /** Told of each connection the listener refuses itself (limits, PROXY header), for the metrics. */
  refused?(reason: ListenerRefusal): void;
  hostname: string;
  log: Logger;
  /**
   * The implicit-TLS port (RFC 8314 §3.3): the server context its refusals are said under. Everything on that port
   * is said over TLS, a refusal too: a reply in clear reached the client inside its handshake, as a TLS error.
   */
  implicitTls?: () => tls.SecureContext | undefined;
}

export class SmtpListener {
  private readonly server: net.Server;
  private readonly perIp = new Map<string, number>();
  private total = 0;
  /** Refusals being said over TLS (implicit-TLS port) at the moment. */
  private tlsRefusals = 0;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly opts: ListenerOptions) {
    this.server = net.createServer({ pauseOnConnect: true }, (socket) => void this.onConnection(socket));
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  address(): AddressInfo {
    return this.server.address() as AddressInfo;
  }

  get connections(): number {
    return this.total;
  }

  /** Stops accepting; existing sessions continue. */
  stopAccepting(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  private async onConnection(socket: Socket): Promise<void> {
    const peer = normalizeIp(socket.remoteAddress ?? '');
    socket.on('error', (err) => this.opts.log.debug('socket error before session', { err, peer }));
    this.total++;
    this.sockets.add(socket);
    let countedIp: string | undefined;
    const onClose = (): void => {
      this.total--;
      this.sockets.delete(socket);
      if (countedIp !== undefined) this.release(countedIp);
    };
    socket.once('close', onClose);
    (socket as CountedSocket)[RELEASE_ON_CLOSE] = onClose;
    if (this.total > this.opts.maxConnections) {
      this.opts.refused?.('too_many');
      return this.refuse(socket, '421 4.3.2 Too many connections, try again later');
    }
    const client: AcceptedClient = {
      id: randomBytes(8).toString('hex'),
      remoteAddress: peer,
      remotePort: socket.remotePort ?? 0,
      localAddress: normalizeIp(socket.localAddress ?? ''),
      localPort: socket.localPort ?? 0,
    };
    if (this.opts.proxyFrom.has(peer)) {
      try {
        socket.resume();
        const info = await readProxyHeader(socket, this.opts.proxyTimeoutMs);
        if (info.kind === 'proxied') {
          client.remoteAddress = normalizeIp(info.sourceIp);
          client.remotePort = info.sourcePort;
          client.localAddress = normalizeIp(info.destIp);
          client.localPort = info.destPort;
        }
      } catch (err) {
        this.opts.log.info('bad PROXY header', { peer, err });
        this.opts.refused?.('proxy_error');
        return this.refuse(socket, '421 4.7.0 PROXY protocol header expected');
      }
    }
    // an IPv6 client counts as its /64: it could take a fresh address for every connection
    countedIp = clientKey(client.remoteAddress);
    const n = (this.perIp.get(countedIp) ?? 0) + 1;
    this.perIp.set(countedIp, n);
    if (n > this.opts.maxConnectionsPerIp) {
      this.opts.refused?.('too_many_per_ip');
      return this.refuse(socket, `421 4.7.0 Too many connections from ${client.remoteAddress}, try again later`);
    }
    const delay = this.opts.greetDelayFor(client.remoteAddress);
    if (delay > 0) {
      const early = await watchPregreet(socket, delay);
      if (socket.destroyed) return;
      if (early) client.pregreet = early.toString('latin1').slice(0, 100);
    }
    let decision: AdmitDecision;
    try {
      decision = await this.opts.admit(client);
    } catch (err) {
      this.opts.log.error('admit failed', { err, session: client.id });
      decision = { refuse: '421 4.3.0 Local error, try again later' };
    }
    if (socket.destroyed) return;
    if (decision) return this.refuse(socket, decision.refuse);
    // The session code reads the socket from here on (smtp-server pipes it into its parser, or on the implicit-TLS
    // port hands it to TLS): resuming it here as well made the bytes a PROXY header or the pre-greet test pushed
    // back flow out to nobody once TLS had taken the socket over (the ClientHello behind a PROXY header was lost).
    this.opts.handOver(socket, client);
  }

  private release(ip: string): void {
    const n = (this.perIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(ip);
    else this.perIp.set(ip, n);
  }

  private refuse(socket: Socket, reply: string): void {
    if (socket.destroyed) return;
    const context = this.opts.implicitTls?.();
    if (context) {
      // Each costs a handshake: a flood of refused clients must not buy unbounded work, so past a few at once
      // the connection is only closed (still nothing in clear inside the client's handshake).
      if (this.tlsRefusals >= MAX_TLS_REFUSALS) {
        socket.destroy();
        return;
      }
      this.tlsRefusals++;
      // The handshake first, then the reply; bounded as a 554 session is (a client that never completes it).
      const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: context });
      const drop = (): void => {
        secure.destroy();
        socket.destroy();
      };
      socket.once('close', () => this.tlsRefusals--);
      const deadline = setTimeout(drop, REFUSED_SESSION_LIMITS.ms);
      deadline.unref();
      secure.once('secure', () => {
        clearTimeout(deadline); // the reply's own bounds apply from here
        this.refuseOn(secure, reply);
      });
      secure.on('error', drop);
      secure.once('close', () => {
        clearTimeout(deadline);
        socket.destroy();
      });
      return;
    }
    this.refuseOn(socket, reply);
  }

  private refuseOn(socket: Socket, reply: string): void {
    const code = reply.slice(0, 3);
    // The reply is given as the greeting; RFC 5321 §3.1 allows 554 (and 421) instead of 220.
    const line = `${code} ${this.opts.hostname} ${reply.slice(4)}\r\n`;
    if (code !== '554') {
      // 421: the server closes the channel (RFC 5321 §3.8)
      socket.end(line);
      setTimeout(() => socket.destroy(), 2000).unref();
      return;
    }
    socket.write(line);
    awaitQuit(socket, this.opts.hostname);
  }
}

/** Refusals said over TLS at once on the implicit-TLS port; past it a refused connection is just closed. */
export const MAX_TLS_REFUSALS = 32;

/** How long, and for how many commands, a client refused with 554 at the greeting is answered before we hang up. */
export const REFUSED_SESSION_LIMITS = { ms: 10_000, commands: 10, lineBytes: 4096 };

/**
 * RFC 5321 §3.1: after a 554 greeting the server MUST wait for the client's QUIT before closing, and SHOULD
 * answer anything else with 503. Bounded: the client gets REFUSED_SESSION_LIMITS.ms and .commands, then the
 * connection is closed all the same.
 */
function awaitQuit(socket: Socket, hostname: string): void {
  let buffered = '';
  let answered = 0;
  const hangUp = (): void => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.end();
    setTimeout(() => socket.destroy(), 2000).unref();
  };
  const timer = setTimeout(hangUp, REFUSED_SESSION_LIMITS.ms);
  timer.unref();
  const onData = (chunk: Buffer): void => {
    buffered += chunk.toString('latin1');
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const command = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (/^QUIT$/i.test(command)) {
        socket.write(`221 2.0.0 ${hostname} closing connection\r\n`);
        return hangUp();
      }
      socket.write('503 5.5.1 Bad sequence of commands: the session was refused, send QUIT\r\n');
      if (++answered >= REFUSED_SESSION_LIMITS.commands) return hangUp();
    }
    if (buffered.length > REFUSED_SESSION_LIMITS.lineBytes) hangUp();
  };
  socket.on('data', onData);
  socket.once('close', () => clearTimeout(timer));
  socket.resume();
}

/** Waits `ms` for silence; returns what the client sent before the greeting, if anything (pushed back). */
function watchPregreet(socket: Socket, ms: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    let got: Buffer | undefined;
    const onData = (chunk: Buffer): void => {
      got = got ? Buffer.concat([got, chunk]) : chunk;
      if (got.length > 4096) finish();
    };
    const finish = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', finish);
      socket.pause();
      if (got) socket.unshift(got);
      resolve(got);
    };
    const timer = setTimeout(finish, ms);
    socket.on('data', onData);
    socket.once('close', finish);
    socket.resume();
  });
}
