// What every POP3 session shares with its server: store, users, limits, locks, throttle, metrics, hooks.
import type { SecureContext } from 'node:tls';
import type { Counter, Gauge } from 'prom-client';
import type { MailboxStore } from '../store/mailbox-store.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import type { AuthThrottle } from '../limits/auth-throttle.ts';
import type { LegacySizes } from './maildrop.ts';

/** The user directory as POP3 needs it (createUserDirectory provides both). */
export interface Pop3Users {
  authenticate(user: string, password: string): Promise<string | undefined>;
  lookup(user: string): { name: string; apopSecret?: string } | undefined;
}

export interface Pop3Limits {
  /** RFC 1939 §3: at least 10 minutes in production (the config enforces it); tests may pass less. */
  idleTimeoutMs: number;
  maxLineLength: number;
  maxBadCommands: number;
  maxConnections: number;
  /** Sessions one client address may hold at once (the others get -ERR [SYS/TEMP] at once). */
  maxConnectionsPerIp: number;
  /** Allow USER/PASS and AUTH PLAIN without TLS from anywhere (not recommended). */
  allowInsecureAuth: boolean;
  /** Client networks where plaintext logins without TLS are fine (default loopback only). */
  plaintextNetworks: readonly string[];
  authFailures: { perIp: { limit: number; window: number }; perUser: { limit: number; window: number } };
  /** The failed-login limit per address counts an IPv6 client as its network of this size (limits.ipv6_prefix). */
  ipv6Prefix: number;
}

export const DEFAULT_POP3_LIMITS: Pop3Limits = {
  idleTimeoutMs: 600_000,
  maxLineLength: 1024,
  maxBadCommands: 20,
  maxConnections: 200,
  maxConnectionsPerIp: 20,
  allowInsecureAuth: false,
  plaintextNetworks: ['127.0.0.0/8', '::1/128'],
  authFailures: { perIp: { limit: 10, window: 900_000 }, perUser: { limit: 5, window: 900_000 } },
  ipv6Prefix: 64,
};

export type LoginResult = 'success' | 'failure' | 'throttled' | 'in_use' | 'insecure';

export interface SessionContext {
  store: MailboxStore;
  users: Pop3Users;
  hostname: string;
  limits: Pop3Limits;
  /** Compiled limits.plaintextNetworks. */
  plaintextOk: { has(ip: string): boolean };
  secureContext?: SecureContext;
  throttle: AuthThrottle;
  /** Maildrop locks: user → session id (RFC 1939 §8: one session per maildrop). */
  locks: Map<string, string>;
  onLogin?: (user: string, clientIp: string) => void;
  /** Sizes of downgraded messages shared by the sessions (maildrop.ts LegacySizes); none: each session reads. */
  legacySizes?: LegacySizes;
  log: Logger;
  clock: Clock;
  logins: Counter<'result'>;
  active: Gauge;
  /** A fresh APOP timestamp `<pid.clock.seq@host>` (RFC 1939 §7: different for every banner). */
  nextTimestamp(): string;
}
