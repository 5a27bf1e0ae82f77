// Failed-login throttling per client address and per user name: sliding windows on an injected clock.
// Attempts still being verified count against the limit: past it, a new attempt waits for them to
// settle, so parallel sessions cannot guess past the limit and parallel right passwords still pass.
// An address counts as its client key (an IPv6 client as its /64, see client-key.ts). A success clears
// only the failures that address made for that user: the owner's logins do not reset a guesser's budget
// elsewhere. An address that logged in as a user lately is not held back by that user's block (only by
// its own address limit), so guesses from elsewhere do not lock the owner out of the devices they use.
import type { Clock } from '../util/clock.ts';
import { clientKey, DEFAULT_IPV6_PREFIX } from './client-key.ts';

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
  /** An IPv6 address counts as its network of this size (limits.ipv6_prefix). */
  ipv6Prefix?: number;
  /** ms a success vouches for its address (as that user) against the user's block; 0: never. */
  knownFor?: number;
  /** Bound on remembered (user, address) successes; the least recently used are forgotten first. */
  maxKnown?: number;
}

/** Defaults of knownFor and maxKnown: 30 days, 100k pairs. */
export const KNOWN_ADDRESS_TTL = 30 * 86_400_000;
export const KNOWN_ADDRESS_MAX = 100_000;

/** One failure: when, and from which client key (a success clears its own address's failures only). */
interface Failure {
  at: number;
  from: string;
}

/** Remembers failure times; a key is blocked while `limit` failures lie within the last `window` ms. */
class Window {
  private readonly failures = new Map<string, Failure[]>();
  /** Attempts begun and not yet settled, per key. */
  private readonly pending = new Map<string, number>();
  constructor(
    private readonly rule: ThrottleRule,
    private readonly clock: Clock,
    private readonly maxKeys: number,
  ) {}

  private recent(key: string): Failure[] {
    const now = this.clock.now();
    const list = (this.failures.get(key) ?? []).filter((f) => f.at > now - this.rule.window);
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

  fail(key: string, from: string): void {
    const now = this.clock.now();
    const list = this.recent(key).slice(-(this.rule.limit - 1));
    list.push({ at: now, from });
    this.failures.delete(key);
    this.failures.set(key, list);
    // The map is in order of last failure: from the front, keys whose last failure left the window are done
    // with (without this, a burst of guesses from many addresses stayed in memory until the key bound).
    for (const [k, list] of this.failures) {
      if (this.failures.size <= this.maxKeys && (list[list.length - 1]?.at ?? 0) > now - this.rule.window) break;
      this.failures.delete(k);
    }
  }

  /** Keys held (tests). */
  get size(): number {
    return this.failures.size;
  }

  /** Forgets the failures under key that came from `from` (the others stay). */
  clear(key: string, from: string): void {
    const list = this.failures.get(key);
    if (!list) return;
    const rest = list.filter((f) => f.from !== from);
    if (rest.length) this.failures.set(key, rest);
    else this.failures.delete(key);
  }
}

/**
 * (user, address) pairs that logged in lately, least recently used first; bounded so that a flood of
 * logins cannot grow it without limit (the oldest pairs lose the exemption, nothing else).
 */
class KnownAddresses {
  private readonly seen = new Map<string, number>();
  constructor(
    private readonly ttl: number,
    private readonly max: number,
    private readonly clock: Clock,
  ) {}

  private static key(user: string, addr: string): string {
    return `${user}\u0000${addr}`;
  }

  remember(user: string, addr: string): void {
    if (this.ttl <= 0 || this.max <= 0) return;
    const k = KnownAddresses.key(user, addr);
    this.seen.delete(k);
    this.seen.set(k, this.clock.now());
    for (const oldest of this.seen.keys()) {
      if (this.seen.size <= this.max) break;
      this.seen.delete(oldest);
    }
  }

  has(user: string, addr: string): boolean {
    const k = KnownAddresses.key(user, addr);
    const at = this.seen.get(k);
    if (at === undefined) return false;
    if (at > this.clock.now() - this.ttl) return true;
    this.seen.delete(k);
    return false;
  }

  get size(): number {
    return this.seen.size;
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
  private readonly known: KnownAddresses;
  private readonly ipv6Prefix: number;
  /** Attempts waiting for one in flight to settle; all are woken to look again at each outcome. */
  private waiters: Array<() => void> = [];
  constructor(opts: AuthThrottleOptions) {
    const max = opts.maxKeys ?? 100_000;
    this.ip = new Window(opts.perIp, opts.clock, max);
    this.user = new Window(opts.perUser, opts.clock, max);
    this.known = new KnownAddresses(opts.knownFor ?? KNOWN_ADDRESS_TTL, opts.maxKnown ?? KNOWN_ADDRESS_MAX, opts.clock);
    this.ipv6Prefix = opts.ipv6Prefix ?? DEFAULT_IPV6_PREFIX;
  }

  private addr(ip: string): string {
    return clientKey(ip, this.ipv6Prefix);
  }

  /** The user's block applies to this address: it has not logged in as the user lately. */
  private userLimited(addr: string, u: string): boolean {
    return !this.known.has(u, addr);
  }

  /** True when a login attempt from this address, or for this user, must be refused without checking it. */
  blocked(ip: string, user: string | undefined): boolean {
    const a = this.addr(ip);
    if (this.ip.blocked(a)) return true;
    if (user === undefined) return false;
    const u = userKey(user);
    return this.user.blocked(u) && this.userLimited(a, u);
  }

  fail(ip: string, user: string | undefined): void {
    const a = this.addr(ip);
    this.ip.fail(a, a);
    if (user !== undefined) this.user.fail(userKey(user), a);
  }

  /**
   * Starts an attempt unless blocked (false: refuse it unchecked). An attempt counts as a possible
   * failure until settled; when those in flight could reach the limit, this one waits for outcomes
   * first. Every settle wakes the waiters, so the wait ends with the attempts it waits on.
   */
  async begin(ip: string, user: string | undefined): Promise<boolean> {
    const a = this.addr(ip);
    const u = user === undefined ? undefined : userKey(user);
    // Each round waits for one outcome; a client that keeps losing the race is refused in the end.
    for (let round = 0; ; round++) {
      if (this.blocked(ip, u) || round >= MAX_WAIT_ROUNDS) return false;
      if (!this.ip.full(a) && (u === undefined || !this.user.full(u) || !this.userLimited(a, u))) break;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    this.ip.hold(a);
    if (u !== undefined) this.user.hold(u);
    return true;
  }

  /**
   * Ends an attempt begun with begin(): a failure is remembered; a success clears the failures this
   * address made for this user (not those from elsewhere, nor the address's own count) and vouches
   * for the address as this user's for knownFor.
   */
  settle(ip: string, user: string | undefined, ok: boolean): void {
    const a = this.addr(ip);
    this.ip.release(a);
    if (user !== undefined) this.user.release(userKey(user));
    if (!ok) this.fail(ip, user);
    else if (user !== undefined) {
      const u = userKey(user);
      this.user.clear(u, a);
      this.known.remember(u, a);
    }
    this.wake();
  }

  /** Ends an attempt begun with begin() that had no outcome (the check itself failed): nothing is counted. */
  abandon(ip: string, user: string | undefined): void {
    this.ip.release(this.addr(ip));
    if (user !== undefined) this.user.release(userKey(user));
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Addresses and user names with failures held, and (user, address) pairs vouched for (tests). */
  get tracked(): { ip: number; user: number; known: number } {
    return { ip: this.ip.size, user: this.user.size, known: this.known.size };
  }
}
