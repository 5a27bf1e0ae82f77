// POP-before-SMTP: a client address that logged in over POP3 may relay for a few minutes (in-process, clock injected).
import { normalizeIp } from '../util/cidr.ts';
import type { Clock } from '../util/clock.ts';

export interface PopBeforeSmtpOptions {
  clock: Clock;
  /** How long a login opens relaying, in ms. */
  ttlMs: number;
  /** Bound on remembered addresses; the soonest to expire are dropped first. */
  maxEntries?: number;
}

export class PopBeforeSmtp {
  private readonly expiry = new Map<string, number>();
  private readonly clock: Clock;
  private readonly ttlMs: number;
  private readonly maxEntries: number;

  constructor(opts: PopBeforeSmtpOptions) {
    this.clock = opts.clock;
    this.ttlMs = opts.ttlMs;
    this.maxEntries = opts.maxEntries ?? 10_000;
  }

  /** Called on a successful POP3 login (the server's onLogin hook). */
  record(ip: string): void {
    const key = normalizeIp(ip);
    this.expiry.delete(key);
    this.expiry.set(key, this.clock.now() + this.ttlMs);
    if (this.expiry.size > this.maxEntries) this.prune();
    // Still too many: drop the oldest insertions (Map keeps insertion order; each record re-inserts).
    for (const k of this.expiry.keys()) {
      if (this.expiry.size <= this.maxEntries) break;
      this.expiry.delete(k);
    }
  }

  /** True while a recent POP3 login from this address is fresh: the gateway's relay check may allow it. */
  allows(ip: string): boolean {
    const key = normalizeIp(ip);
    const until = this.expiry.get(key);
    if (until === undefined) return false;
    if (until <= this.clock.now()) {
      this.expiry.delete(key);
      return false;
    }
    return true;
  }

  prune(): void {
    const now = this.clock.now();
    for (const [k, until] of this.expiry) if (until <= now) this.expiry.delete(k);
  }

  get size(): number {
    return this.expiry.size;
  }
}
