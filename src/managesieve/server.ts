// ManageSieve listener (RFC 5804, port 4190): connection limits (in all and per address), STARTTLS when a
// certificate is configured, sessions counted in spamgate_managesieve_sessions_total and logins by result.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import { AuthThrottle } from '../limits/auth-throttle.ts';
import { PerAddressLimit } from '../limits/per-address.ts';
import type { SieveStore } from '../mailhost/sieve-store.ts';
import { counter, type Registry } from '../metrics/registry.ts';
import { CidrSet, normalizeIp } from '../util/cidr.ts';
import type { Clock } from '../util/clock.ts';
import { listenOn } from '../util/listen.ts';
import type { Logger } from '../util/logger.ts';
import { createServerContext } from '../util/tls-server.ts';
import { DEFAULT_MANAGESIEVE_LIMITS, type ManageSieveLimits, type SessionContext } from './context.ts';
import { ManageSieveSession } from './session.ts';

export interface ManageSieveServerOptions {
  store: SieveStore;
  authenticate(user: string, password: string): Promise<string | undefined>;
  tls?: { cert: string | Buffer; key: string | Buffer };
  limits?: Partial<ManageSieveLimits>;
  registry: Registry;
  log: Logger;
  clock: Clock;
}

export interface ManageSieveServer {
  listen(port: number, host: string): Promise<void>;
  address(): AddressInfo | undefined;
  updateTls(tls: { cert: Buffer; key: Buffer }): void;
  close(): Promise<void>;
}

export const LOGIN_RESULTS = ['success', 'failure', 'throttled', 'insecure'] as const;

export function createManageSieveServer(opts: ManageSieveServerOptions): ManageSieveServer {
  const limits: ManageSieveLimits = { ...DEFAULT_MANAGESIEVE_LIMITS, ...opts.limits };
  const sessions = counter(opts.registry, 'spamgate_managesieve_sessions_total', 'ManageSieve connections accepted.');
  const logins = counter(opts.registry, 'spamgate_managesieve_logins_total', `ManageSieve login attempts by result (${LOGIN_RESULTS.join(', ')}).`, ['result']);
  for (const result of LOGIN_RESULTS) logins.inc({ result }, 0);
  const secureContext: SecureContext | undefined = opts.tls ? createServerContext(opts.tls) : undefined;
  const ctx: SessionContext = {
    store: opts.store,
    authenticate: opts.authenticate,
    limits,
    plaintextOk: new CidrSet(limits.plaintextNetworks),
    throttle: new AuthThrottle({ clock: opts.clock, perIp: limits.authFailures.perIp, perUser: limits.authFailures.perUser, ipv6Prefix: limits.ipv6Prefix }),
    log: opts.log,
    logins,
  };
  if (secureContext) ctx.secureContext = secureContext;
  const open = new Set<Socket>();
  const perIp = new PerAddressLimit(limits.maxConnectionsPerIp);
  let seq = 0;

  const server: Server = createServer((socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.on('error', () => undefined);
    if (!perIp.admit(socket, normalizeIp(socket.remoteAddress ?? ''))) {
      socket.end('BYE (TRYLATER) "too many connections from your address"\r\n');
      setTimeout(() => socket.destroy(), 2000).unref();
      return;
    }
    sessions.inc();
    const id = `sieve-${opts.clock.now().toString(36)}-${(++seq).toString(36)}`;
    new ManageSieveSession(ctx, socket, id).start();
  });
  server.maxConnections = limits.maxConnections;

  return {
    listen: (port, host) => listenOn(server, port, host),
    address: () => (server.listening ? (server.address() as AddressInfo) : undefined),
    updateTls(tls) {
      if (ctx.secureContext) ctx.secureContext = createServerContext(tls);
    },
    async close() {
      const closing = new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
      for (const s of open) s.destroy();
      await closing;
    },
  };
}
