// What every IMAP session shares: injected dependencies, limits, metrics, the summary cache and login throttling.
import type { SecureContext } from 'node:tls';
import { LRUCache } from 'lru-cache';
import type { Learner } from '../bayes/learner.ts';
import { AuthThrottle } from '../limits/auth-throttle.ts';
import { counter, gauge, type Counter, type Gauge, type Registry } from '../metrics/registry.ts';
import type { MailboxStore } from '../store/mailbox-store.ts';
import { KeyedMutex } from '../store/mutex.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import type { Summary } from './fetch.ts';
import { EnvelopeCache, UidCache } from './envelope-cache.ts';
import { headerKeysSize, type HeaderKeys } from './message-keys.ts';
import type { AddressMemo } from './envelope.ts';

export interface ImapLimits {
  /** Longest command line (all lines of one command), bytes. */
  maxLineBytes: number;
  /** Largest literal (APPEND message), bytes. */
  maxLiteralBytes: number;
  /** Commands per second per session (token bucket, burst = 2x). */
  commandsPerSecond: number;
  /** Inactivity before "* BYE" (RFC 3501 §5.4: at least 30 minutes). */
  idleTimeoutMs: number;
  /**
   * How often an IDLE session looks at its folder on disk: mail other programs deliver into the Maildir or remove
   * from it tell the server nothing (Dovecot's mailbox_idle_check_interval, also 30 s).
   */
  idlePollMs: number;
  /** Failed logins per client IP within authFailureWindowMs before further attempts are refused. */
  maxAuthFailures: number;
  /** Failed logins per user name within authFailureWindowMs, from any address. */
  maxAuthFailuresPerUser: number;
  authFailureWindowMs: number;
  maxConnections: number;
  /** Connections one client address may hold at once. */
  maxConnectionsPerIp: number;
  /** The failed-login limit per address counts an IPv6 client as its network of this size (limits.ipv6_prefix). */
  ipv6Prefix: number;
}

export const defaultImapLimits: ImapLimits = {
  maxLineBytes: 64 * 1024,
  maxLiteralBytes: 50 * 1024 * 1024,
  commandsPerSecond: 200,
  idleTimeoutMs: 30 * 60_000,
  idlePollMs: 30_000,
  maxAuthFailures: 10,
  maxAuthFailuresPerUser: 5,
  authFailureWindowMs: 5 * 60_000,
  maxConnections: 500,
  maxConnectionsPerIp: 20,
  ipv6Prefix: 64,
};

export interface ImapServerOptions {
  store: MailboxStore;
  /** Verifies a password; returns the canonical user name, or undefined. */
  authenticate: (user: string, pass: string) => Promise<string | undefined>;
  /** Storage quota of a user in bytes (undefined: none), checked by APPEND and COPY; see quota.ts. */
  quotaOf?: (user: string) => number | undefined;
  /** Called after every successful login (IMAP-before-SMTP). */
  onLogin?: (user: string, clientIp: string) => void;
  learner?: Learner;
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Serve TLS from the first byte (imaps, port 993 style) instead of STARTTLS. */
  implicitTls?: boolean;
  /** Allow LOGIN/AUTHENTICATE without TLS from non-loopback clients (default false). */
  allowInsecureAuth?: boolean;
  hostname: string;
  /** Offer COMPRESS=DEFLATE (RFC 4978) after login (default true). */
  compress?: boolean;
  limits?: Partial<ImapLimits>;
  registry: Registry;
  log: Logger;
  clock: Clock;
}

export interface ImapMetrics {
  sessions: Counter<never>;
  /** Connections closed with BYE before any session: too_many (server-wide), too_many_per_ip. */
  refused: Counter<'reason'>;
  active: Gauge<never>;
  logins: Counter<'result'>;
  junkLearn: Counter<'class'>;
  /** Sessions that turned on COMPRESS=DEFLATE. */
  compressed: Counter<never>;
}

export interface ImapContext {
  opts: ImapServerOptions;
  limits: ImapLimits;
  metrics: ImapMetrics;
  secureContext?: SecureContext;
  summaries: LRUCache<string, Summary>;
  /** ENVELOPE strings built from the store's cached header fields, by mailbox and UID. */
  envelopes: EnvelopeCache;
  /** The same in the UTF-8 form, for sessions that enabled UTF8=ACCEPT (RFC 6855 §3; envelope.ts). */
  envelopesUtf8: EnvelopeCache;
  /** SORT and THREAD keys from the store's cached header fields, by mailbox and UID (message-keys.ts). */
  sortKeys: UidCache<HeaderKeys>;
  /**
   * RFC 8474 §5.2 THREADID made from the store's cached header fields, by mailbox and UID ('' for a message naming no
   * root, whose id comes from its EMAILID; header-keys-cache.ts). Kept apart from sortKeys, which cost far more to make.
   */
  threadRoots: UidCache<string>;
  /** Encoded ENVELOPE address lists by raw header value (bounded; see envelope.ts). */
  addresses: AddressMemo;
  /** Failed logins per address and per user; attempts being verified count (see AuthThrottle). */
  throttle: AuthThrottle;
  /** Learning runs in the background, one at a time; tests and close() can await it. */
  learnQueue: { idle(): Promise<void>; push(job: () => Promise<void>): void };
  /** Per user: a quota check and the APPEND or COPY it allows run as one step (see quota.ts). */
  quotaLocks: KeyedMutex;
}

export function createContext(opts: ImapServerOptions, secureContext: SecureContext | undefined): ImapContext {
  const limits = { ...defaultImapLimits, ...opts.limits };
  const r = opts.registry;
  const metrics: ImapMetrics = {
    sessions: counter(r, 'spamgate_imap_sessions_total', 'IMAP connections accepted'),
    refused: counter(r, 'spamgate_imap_connections_refused_total', 'IMAP connections refused before a session, by reason (too_many, too_many_per_ip)', ['reason']),
    active: gauge(r, 'spamgate_imap_sessions_active', 'IMAP sessions open now'),
    logins: counter(r, 'spamgate_imap_logins_total', 'IMAP login attempts by result', ['result']),
    junkLearn: counter(r, 'spamgate_imap_junk_learn_total', 'Messages learned from moves into/out of the Junk folder, by class', ['class']),
    compressed: counter(r, 'spamgate_imap_compressed_sessions_total', 'IMAP sessions that turned on COMPRESS=DEFLATE (RFC 4978)'),
  };
  // both series exist from the start, so increase() sees the first refusal
  for (const reason of ['too_many', 'too_many_per_ip']) metrics.refused.inc({ reason }, 0);
  let tail: Promise<void> = Promise.resolve();
  let queued = 0;
  return {
    opts,
    limits,
    metrics,
    ...(secureContext ? { secureContext } : {}),
    summaries: new LRUCache<string, Summary>({ max: 100_000, maxSize: 128 * 1024 * 1024, sizeCalculation: (s) => s.envelope.length + (s.envelopeUtf8 === s.envelope ? 0 : s.envelopeUtf8.length) + s.body.length + s.bodystructure.length + (s.bodyUtf8 === s.body ? 0 : s.bodyUtf8.length) + (s.bodystructureUtf8 === s.bodystructure ? 0 : s.bodystructureUtf8.length) + 64 }),
    envelopes: new EnvelopeCache(128 * 1024 * 1024),
    envelopesUtf8: new EnvelopeCache(32 * 1024 * 1024),
    sortKeys: new UidCache<HeaderKeys>(64 * 1024 * 1024, headerKeysSize),
    threadRoots: new UidCache<string>(16 * 1024 * 1024, (id) => id.length),
    quotaLocks: new KeyedMutex(),
    addresses: new Map(),
    throttle: new AuthThrottle({
      clock: opts.clock,
      perIp: { limit: limits.maxAuthFailures, window: limits.authFailureWindowMs },
      perUser: { limit: limits.maxAuthFailuresPerUser, window: limits.authFailureWindowMs },
      ipv6Prefix: limits.ipv6Prefix,
    }),
    learnQueue: {
      idle: () => tail,
      push(job) {
        if (queued >= 10_000) {
          opts.log.warn('imap junk learning queue full; dropping');
          return;
        }
        queued++;
        tail = tail.then(job).catch((err: unknown) => opts.log.warn('imap junk learning failed', { err })).finally(() => {
          queued--;
        });
      },
    },
  };
}
