// What every ManageSieve session shares with its server: the script store, login check, limits, throttle, metrics.
import type { SecureContext } from 'node:tls';
import type { Counter } from 'prom-client';
import type { AuthThrottle } from '../limits/auth-throttle.ts';
import type { SieveStore } from '../mailhost/sieve-store.ts';
import type { Logger } from '../util/logger.ts';

export interface ManageSieveLimits {
  idleTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerIp: number;
  maxScripts: number;
  /** Bytes of one script (and of any literal the client sends). */
  maxScriptSize: number;
  /** Octets of one command line (literals apart). */
  maxLine: number;
  /** Commands a client may send before it has logged in (then BYE). */
  maxCommandsBeforeAuth: number;
  /** Commands refused as malformed in one session (then BYE). */
  maxBadCommands: number;
  /** Client networks where a password may travel without TLS (the house rule: loopback only). */
  plaintextNetworks: readonly string[];
  authFailures: { perIp: { limit: number; window: number }; perUser: { limit: number; window: number } };
  ipv6Prefix: number;
}

export const DEFAULT_MANAGESIEVE_LIMITS: ManageSieveLimits = {
  idleTimeoutMs: 600_000,
  maxConnections: 100,
  maxConnectionsPerIp: 10,
  maxScripts: 10,
  maxScriptSize: 64 * 1024,
  maxLine: 8192,
  maxCommandsBeforeAuth: 30,
  maxBadCommands: 20,
  plaintextNetworks: ['127.0.0.0/8', '::1/128'],
  authFailures: { perIp: { limit: 10, window: 900_000 }, perUser: { limit: 5, window: 900_000 } },
  ipv6Prefix: 64,
};

export type LoginResult = 'success' | 'failure' | 'throttled' | 'insecure';

export interface SessionContext {
  store: SieveStore;
  /** The user's canonical name when the password is right. */
  authenticate(user: string, password: string): Promise<string | undefined>;
  limits: ManageSieveLimits;
  /** Client addresses where a password may travel without TLS (loopback: the house rule). */
  plaintextOk: { has(ip: string): boolean };
  secureContext?: SecureContext;
  throttle: AuthThrottle;
  log: Logger;
  logins: Counter<'result'>;
}
