// Failed-login throttling per client address and per user name: sliding windows on an injected clock.
// Attempts still being verified count against the limit: past it, a new attempt waits for them to
// settle, so parallel sessions cannot guess past the limit and parallel right passwords still pass.
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
  /** Attempts begun and not yet settled, per key. */
  private readonly pending = new Map<string, number>();
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

  /** Failures plus attempts in flight reach the limit: one more must wait for an outcome. */
  full(key: string): boolean {
    return this.recent(key).length + (this.pending.get(key) ?? 0) >= this.rule.limit;
  }

  hold(key: string): void {
    this.pending.set(key, (this.pending.get(key) ?? 0) + 1);
  }

  release(key: string): void {
    const n = (this.pending.get(key) ?? 0) - 1;
    if (n > 0) this.pending.set(key, n);
    else this.pending.delete(key);
  }

  fail(key: string): void {
    const now = this.clock.now();
    const list = this.recent(key).slice(-(this.rule.limit - 1));
    list.push(now);
    this.failures.delete(key);
    this.failures.set(key, list);
    // The map is in order of last failure: from the front, keys whose last failure left the window are done
    // with (without this, a burst of guesses from many addresses stayed in memory until the key bound).
    for (const [k, times] of this.failures) {
      if (this.failures.size <= this.maxKeys && (times[times.length - 1] ?? 0) > now - this.rule.window) break;
      this.failures.delete(k);
    }
  }

  /** Keys held (tests). */
  get size(): number {
    return this.failures.size;
  }

  clear(key: string): void {
    this.failures.delete(key);
  }
}

const MAX_WAIT_ROUNDS = 1000;

/**
 * The per-user key: the name as the user directory reads it (trimmed, lower case), so " Alice@x" or
 * "alice@x\t" is the same account here as there and cannot start a fresh count.
 */
export const userKey = (user: string): string => user.trim().toLowerCase().slice(0, MAX_USER_KEY);

/** Longer names (no address is longer than 254 octets, RFC 5321 §4.5.3.1.3) share a key: a guesser's choice of name cannot make entries large. */
const MAX_USER_KEY = 320;

export class AuthThrottle {
  private readonly ip: Window;
  private readonly user: Window;
  /** Attempts waiting for one in flight to settle; all are woken to look again at each outcome. */
  private waiters: Array<() => void> = [];
  constructor(opts: AuthThrottleOptions) {
    const max = opts.maxKeys ?? 100_000;
    this.ip = new Window(opts.perIp, opts.clock, max);
    this.user = new Window(opts.perUser, opts.clock, max);
  }

  /** True when a login attempt from this address, or for this user, must be refused without checking it. */
  blocked(ip: string, user: string | undefined): boolean {
    return this.ip.blocked(ip) || (user !== undefined && this.user.blocked(userKey(user)));
  }

  fail(ip: string, user: string | undefined): void {
    this.ip.fail(ip);
    if (user !== undefined) this.user.fail(userKey(user));
  }

  /**
   * Starts an attempt unless blocked (false: refuse it unchecked). An attempt counts as a possible
   * failure until settled; when those in flight could reach the limit, this one waits for outcomes
   * first. Every settle wakes the waiters, so the wait ends with the attempts it waits on.
   */
  async begin(ip: string, user: string | undefined): Promise<boolean> {
    const u = user === undefined ? undefined : userKey(user);
    // Each round waits for one outcome; a client that keeps losing the race is refused in the end.
    for (let round = 0; ; round++) {
      if (this.blocked(ip, u) || round >= MAX_WAIT_ROUNDS) return false;
      if (!this.ip.full(ip) && (u === undefined || !this.user.full(u))) break;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    this.ip.hold(ip);
    if (u !== undefined) this.user.hold(u);
    return true;
  }

  /** Ends an attempt begun with begin(): a failure is remembered, a success clears the user's failures. */
  settle(ip: string, user: string | undefined, ok: boolean): void {
    this.ip.release(ip);
    if (user !== undefined) this.user.release(userKey(user));
    if (!ok) this.fail(ip, user);
    else if (user !== undefined) this.succeed(user);
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Ends an attempt begun with begin() that had no outcome (the check itself failed): nothing is counted. */
  abandon(ip: string, user: string | undefined): void {
    this.ip.release(ip);
    if (user !== undefined) this.user.release(userKey(user));
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Addresses and user names with failures held (tests). */
  get tracked(): { ip: number; user: number } {
    return { ip: this.ip.size, user: this.user.size };
  }

  /** A successful login clears the user's failures (the address keeps its own). */
  succeed(user: string): void {
    this.user.clear(userKey(user));
  }
}
