// POP3 server factory: plain listener (with STLS) and optional implicit-TLS listener over the mailbox store.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, Server as TlsServer, type SecureContext, type TLSSocket } from 'node:tls';
import type { Registry } from 'prom-client';
import { counter, gauge } from '../metrics/registry.ts';
import { CidrSet, normalizeIp } from '../util/cidr.ts';
import { createServerContext, SERVER_TLS_OPTIONS } from '../util/tls-server.ts';
import type { MailboxStore } from '../store/mailbox-store.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { LRUCache } from 'lru-cache';
import { AuthThrottle } from '../limits/auth-throttle.ts';
import { PerAddressLimit } from '../limits/per-address.ts';
import { DEFAULT_POP3_LIMITS, type Pop3Limits, type Pop3Users, type SessionContext } from './context.ts';
import { Pop3Session } from './session.ts';

export type { Pop3Limits, Pop3Users } from './context.ts';
export { DEFAULT_POP3_LIMITS } from './context.ts';

export interface Pop3ServerOptions {
  store: MailboxStore;
  users: Pop3Users;
  /** PEM cert and key: enables STLS and the implicit-TLS listener. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Used in the APOP timestamp and logs. */
  hostname: string;
  limits?: Partial<Pop3Limits>;
  /** Called after every successful login (POP-before-SMTP). */
  onLogin?: (user: string, clientIp: string) => void;
  registry: Registry;
  log: Logger;
  clock: Clock;
}

export interface Pop3Server {
  /** Plain POP3 (STLS offered when TLS is configured). Resolves once listening; port 0 picks one. */
  listen(port: number, host: string): Promise<void>;
  /** Implicit TLS (like port 995); needs `tls`. */
  listenTls(port: number, host: string): Promise<void>;
  address(): AddressInfo | undefined;
  tlsAddress(): AddressInfo | undefined;
  /** Stops listening and ends open sessions without UPDATE (nothing is deleted). */
  close(): Promise<void>;
  /** A renewed certificate: new handshakes (STLS and implicit TLS) use it; sessions under way keep theirs. */
  updateTls(tls: { cert: Buffer; key: Buffer }): void;
}

/** Downgraded sizes the server remembers (a number and a short key each: a few MB at most). */
const LEGACY_SIZES_MAX = 100_000;

/** An implicit-TLS client that has not finished its handshake by then is dropped. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

export function createPop3Server(opts: Pop3ServerOptions): Pop3Server {
  const limits: Pop3Limits = { ...DEFAULT_POP3_LIMITS, ...opts.limits };
  const sessions = counter(opts.registry, 'spamgate_pop3_sessions_total', 'POP3 connections accepted.');
  const refused = counter(opts.registry, 'spamgate_pop3_connections_refused_total', 'POP3 connections refused before a session, by reason (too_many, too_many_per_ip).', ['reason']);
  // both series exist from the start, so increase() sees the first refusal
  for (const reason of ['too_many', 'too_many_per_ip']) refused.inc({ reason }, 0);
  const secureContext: SecureContext | undefined = opts.tls ? createServerContext(opts.tls) : undefined;
  const tlsFiles = opts.tls;
  let seq = 0;
  const ctx: SessionContext = {
    store: opts.store,
    users: opts.users,
    hostname: opts.hostname,
    limits,
    plaintextOk: new CidrSet(limits.plaintextNetworks),
    throttle: new AuthThrottle({ clock: opts.clock, perIp: limits.authFailures.perIp, perUser: limits.authFailures.perUser, ipv6Prefix: limits.ipv6Prefix }),
    locks: new Map(),
    log: opts.log,
    clock: opts.clock,
    logins: counter(opts.registry, 'spamgate_pop3_logins_total', 'POP3 login attempts by result (success, failure, throttled, in_use, insecure).', ['result']),
    active: gauge(opts.registry, 'spamgate_pop3_sessions_active', 'POP3 sessions open now.'),
    legacySizes: new LRUCache<string, number>({ max: LEGACY_SIZES_MAX }),
    nextTimestamp: () => `<${process.pid}.${opts.clock.now()}.${++seq}@${opts.hostname}>`,
  };
  if (secureContext) ctx.secureContext = secureContext;
  if (opts.onLogin) ctx.onLogin = opts.onLogin;
  const open = new Set<Socket>();
  const perIp = new PerAddressLimit(limits.maxConnectionsPerIp);

  /** Counts the connection against its address (on the raw socket: before any TLS handshake); false past the limit. */
  const admit = (socket: Socket): boolean => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    // One address cannot take every slot (sessions may idle 10 minutes, RFC 1939 §3): refused, not a session.
    if (perIp.admit(socket, normalizeIp(socket.remoteAddress ?? ''))) return true;
    refused.inc({ reason: 'too_many_per_ip' });
    return false;
  };

  const start = (socket: Socket, secure: boolean): void => {
    sessions.inc();
    if (secure) {
      open.add(socket);
      socket.on('close', () => open.delete(socket));
    }
    const id = `pop3-${opts.clock.now().toString(36)}-${(++seq).toString(36)}`;
    new Pop3Session(ctx, socket, secure, id).start();
  };

  const accept = (socket: Socket): void => {
    if (admit(socket)) return start(socket, false);
    socket.on('error', () => undefined);
    socket.end('-ERR [SYS/TEMP] too many connections from your address\r\n');
    setTimeout(() => socket.destroy(), 2000).unref();
  };

  const plain: Server = createServer(accept);
  plain.maxConnections = limits.maxConnections;
  // past maxConnections Node closes the socket itself and says so with 'drop'
  plain.on('drop', () => refused.inc({ reason: 'too_many' }));
  let implicit: Server | undefined;

  const listenOn = (server: Server, port: number, host: string): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });

  const closeServer = (server: Server | undefined): Promise<void> =>
    new Promise((resolve) => (server?.listening ? server.close(() => resolve()) : resolve()));

  return {
    listen: (port, host) => listenOn(plain, port, host),
    async listenTls(port, host) {
      if (!secureContext) throw new Error('pop3: implicit TLS needs tls.cert and tls.key');
      // the handshake is bounded in time, and the address limit applies from the first byte, not after it
      implicit = createTlsServer({ cert: tlsFiles?.cert, key: tlsFiles?.key, ...SERVER_TLS_OPTIONS, handshakeTimeout: HANDSHAKE_TIMEOUT_MS }, (s: TLSSocket) => start(s, true));
      implicit.on('connection', (raw: Socket) => {
        if (!admit(raw)) raw.destroy();
      });
      implicit.maxConnections = limits.maxConnections;
      implicit.on('drop', () => refused.inc({ reason: 'too_many' }));
      implicit.on('tlsClientError', (err) => opts.log.debug('pop3 TLS handshake failed', { err }));
      await listenOn(implicit, port, host);
    },
    updateTls(tls) {
      if (!ctx.secureContext) return;
      ctx.secureContext = createServerContext(tls);
      if (implicit instanceof TlsServer) implicit.setSecureContext({ cert: tls.cert, key: tls.key, ...SERVER_TLS_OPTIONS });
    },
    address: () => (plain.listening ? (plain.address() as AddressInfo) : undefined),
    tlsAddress: () => (implicit?.listening ? (implicit.address() as AddressInfo) : undefined),
    async close() {
      const closing = Promise.all([closeServer(plain), closeServer(implicit)]);
      for (const s of open) s.destroy();
      await closing;
    },
  };
}
