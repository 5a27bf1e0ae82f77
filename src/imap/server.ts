// IMAP4rev1 server factory: listens (plain+STARTTLS or implicit TLS), enforces connection limits, runs one Session per client.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { randomBytes } from 'node:crypto';
import { authHandlers } from './commands-auth.ts';
import { compressHandlers } from './commands-compress.ts';
import { listHandlers } from './commands-list.ts';
import { mailboxHandlers } from './commands-mailbox.ts';
import { quotaHandlers } from './quota.ts';
import { messageHandlers } from './commands-message.ts';
import { sortHandlers } from './commands-sort.ts';
import { PerAddressLimit } from '../limits/per-address.ts';
import { createServerContext } from '../util/tls-server.ts';
import { createContext, type ImapServerOptions } from './context.ts';
import { Session, type Handler } from './session.ts';

export type { ImapServerOptions } from './context.ts';
export { defaultImapLimits, type ImapLimits } from './context.ts';

export interface ImapServer {
  listen(port: number, host?: string): Promise<AddressInfo>;
  close(): Promise<void>;
  address(): AddressInfo | undefined;
  /** Resolves once queued Junk-folder learning has run (tests, shutdown). */
  learningIdle(): Promise<void>;
  /** A renewed certificate: new handshakes (STARTTLS and implicit TLS) use it; sessions under way keep theirs. */
  updateTls(tls: { cert: Buffer; key: Buffer }): void;
}

/** An implicit-TLS client that has not finished its handshake by then is dropped. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

const HANDLERS: Record<string, Handler> = { ...authHandlers, ...mailboxHandlers, ...listHandlers, ...messageHandlers, ...sortHandlers, ...quotaHandlers, ...compressHandlers };

export function createImapServer(opts: ImapServerOptions): ImapServer {
  let secureContext = opts.tls ? createServerContext(opts.tls) : undefined;
  if (opts.implicitTls && !secureContext) throw new Error('imap: implicit TLS needs tls.cert and tls.key');
  const ctx = createContext(opts, secureContext);
  const sessions = new Set<Session>();
  const sockets = new Set<Socket>();
  const perIp = new PerAddressLimit(ctx.limits.maxConnectionsPerIp);

  const server: Server = createServer((raw) => {
    sockets.add(raw);
    raw.setNoDelay(true); // replies are written in pieces; Nagle would hold the tagged line back ~40ms
    raw.on('close', () => sockets.delete(raw));
    raw.on('error', (err) => opts.log.debug('imap socket error', { err }));
    const ip = (raw.remoteAddress ?? '').replace(/^::ffff:/, '');
    if (sockets.size > ctx.limits.maxConnections) {
      ctx.metrics.refused.inc({ reason: 'too_many' });
      raw.end('* BYE Too many connections\r\n');
      return;
    }
    // one address cannot take every slot (sessions may idle 30 minutes, RFC 3501 §5.4)
    if (!perIp.admit(raw, ip)) {
      ctx.metrics.refused.inc({ reason: 'too_many_per_ip' });
      if (opts.implicitTls) raw.destroy();
      else raw.end('* BYE Too many connections from your address\r\n');
      return;
    }
    ctx.metrics.sessions.inc();
    ctx.metrics.active.inc();
    let stream: Socket | TLSSocket = raw;
    if (opts.implicitTls && secureContext) {
      const tls = new TLSSocket(raw, { isServer: true, secureContext });
      // a failed handshake or a refused renegotiation: the session is over
      tls.on('error', (err) => {
        opts.log.debug('imap tls error', { err });
        tls.destroy();
        raw.destroy();
      });
      // a client that never finishes its handshake does not keep the slot for the whole idle timeout
      const handshake = setTimeout(() => raw.destroy(), HANDSHAKE_TIMEOUT_MS);
      handshake.unref();
      tls.once('secure', () => clearTimeout(handshake));
      raw.once('close', () => clearTimeout(handshake));
      stream = tls;
    }
    const session = new Session(ctx, stream, ip, opts.implicitTls === true, HANDLERS, randomBytes(6).toString('hex'));
    sessions.add(session);
    raw.setTimeout(ctx.limits.idleTimeoutMs);
    raw.on('timeout', () => session.close('Autologout; idle for too long')); // RFC 3501 §5.4
    raw.on('close', () => {
      sessions.delete(session);
      session.ended();
      ctx.metrics.active.dec();
    });
    session.greet();
  });
  server.on('error', (err) => opts.log.error('imap server error', { err }));

  return {
    updateTls(tls) {
      // only a server that had TLS from the start: turning it on would change what its CAPABILITY says
      if (!secureContext) return;
      secureContext = createServerContext(tls);
      ctx.secureContext = secureContext;
    },
    listen(port, host = '127.0.0.1') {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const addr = server.address() as AddressInfo;
          opts.log.info('imap listening', { host: addr.address, port: addr.port, tls: opts.implicitTls === true });
          resolve(addr);
        });
      });
    },
    async close() {
      for (const s of sessions) s.close('Server shutting down');
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const sock of sockets) sock.destroy();
      });
      await ctx.learnQueue.idle();
    },
    address() {
      const a = server.address();
      return a && typeof a === 'object' ? a : undefined;
    },
    learningIdle: () => ctx.learnQueue.idle(),
  };
}
