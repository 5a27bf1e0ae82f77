// Failed-login throttling per client address and per user name: sliding windows on an injected clock.
import type { Clock } from '../util/clock.ts';

export interface ThrottleRule {
  limit: number;
  /** ms */
  window: number;
}

export interface AuthThrottleOptions {
  clock: Clock;
  perIp: ThrottleRule;
  perUser: ThrottleRule;
  /** Bound on tracked keys; the oldest are forgotten first. */
  maxKeys?: number;
}

/** Remembers failure times; a key is blocked while `limit` failures lie within the last `window` ms. */
class Window {
  private readonly failures = new Map<string, number[]>();
  constructor(
    private readonly rule: ThrottleRule,
    private readonly clock: Clock,
    private readonly maxKeys: number,
  ) {}

  private recent(key: string): number[] {
    const now = this.clock.now();
    const list = (this.failures.get(key) ?? []).filter((t) => t > now - this.rule.window);
    if (list.length) this.failures.set(key, list);
    else this.failures.delete(key);
    return list;
  }

  blocked(key: string): boolean {
    return this.recent(key).length >= this.rule.limit;
  }

  fail(key: string): void {
    const list = this.recent(key).slice(-(this.rule.limit - 1));
    list.push(this.clock.now());
    this.failures.delete(key);
    this.failures.set(key, list);
    for (const k of this.failures.keys()) {
      if (this.failures.size <= this.maxKeys) break;
      this.failures.delete(k);
    }
  }

  clear(key: string): void {
    this.failures.delete(key);
  }
}

export class AuthThrottle {
  private readonly ip: Window;
  private readonly user: Window;
  constructor(opts: AuthThrottleOptions) {
    const max = opts.maxKeys ?? 100_000;
    this.ip = new Window(opts.perIp, opts.clock, max);
    this.user = new Window(opts.perUser, opts.clock, max);
  }

  /** True when a login attempt from this address, or for this user, must be refused without checking it. */
  blocked(ip: string, user: string | undefined): boolean {
    return this.ip.blocked(ip) || (user !== undefined && this.user.blocked(user.toLowerCase()));
  }

  fail(ip: string, user: string | undefined): void {
    this.ip.fail(ip);
    if (user !== undefined) this.user.fail(user.toLowerCase());
  }

  /** A successful login clears the user's failures (the address keeps its own). */
  succeed(user: string): void {
    this.user.clear(user.toLowerCase());
  }
}
