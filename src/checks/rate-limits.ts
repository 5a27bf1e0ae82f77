// Per client IP and per authenticated user message/recipient rates, counted in a RateStore. A store that
// fails (Redis down, redis.on_error tempfail) is RATE_STORE_UNAVAILABLE, never a claimed "limit exceeded".
import { clientKey } from '../limits/client-key.ts';
import type { RateStore } from '../limits/rate-store.ts';
import type { CheckName } from './names.ts';
import type { Check, CheckContext, SymbolHit } from './types.ts';

export interface RateRule {
  limit: number;
  window: number;
}

export interface RateLimitOptions {
  store: RateStore;
  perIp: { messages?: RateRule; recipients?: RateRule };
  perUser: { messages?: RateRule; recipients?: RateRule };
  /** Per-address limits count an IPv6 client as its network of this size (src/limits/client-key.ts). */
  ipv6Prefix?: number;
}

export const RATE_SYMBOLS = ['RATE_IP_MESSAGES', 'RATE_IP_RECIPIENTS', 'RATE_USER_MESSAGES', 'RATE_USER_RECIPIENTS', 'RATE_STORE_UNAVAILABLE'] as const;

/** The store could not count the hit (the error is logged by the caller). */
class StoreFailure {
  constructor(readonly error: unknown) {}
}

async function over(store: RateStore, key: string, rule: RateRule | undefined): Promise<number | StoreFailure | undefined> {
  if (!rule) return undefined;
  let n: number;
  try {
    n = await store.hit(key, rule.window, { limit: rule.limit });
  } catch (err) {
    return new StoreFailure(err);
  }
  return n > rule.limit ? n : undefined;
}

function unavailable(ctx: CheckContext, failure: StoreFailure, what: string): SymbolHit[] {
  const error = failure.error instanceof Error ? failure.error.message : String(failure.error);
  ctx.log.warn('rate store unavailable', { error, counter: what });
  return [{ symbol: 'RATE_STORE_UNAVAILABLE', options: [what] }];
}

type Counted = 'messages' | 'recipients';

/** One counter check: per authenticated user when there is one, else per client address. */
function rateCheck(opts: RateLimitOptions, name: CheckName, phase: 'mail' | 'rcpt', counted: Counted, keyTag: string): Check {
  const tag = counted.toUpperCase();
  return {
    name,
    phase,
    symbols: [`RATE_IP_${tag}`, `RATE_USER_${tag}`, 'RATE_STORE_UNAVAILABLE'],
    skipTrusted: false,
    async run(ctx): Promise<SymbolHit[]> {
      const user = ctx.session.authUser;
      const [scope, who, rule] = user !== undefined ? (['user', user, opts.perUser[counted]] as const) : (['ip', clientKey(ctx.session.clientIp, opts.ipv6Prefix), opts.perIp[counted]] as const);
      const n = await over(opts.store, `${scope}-${keyTag}:${who}`, rule);
      if (n instanceof StoreFailure) return unavailable(ctx, n, `${scope} ${counted}`);
      return n === undefined ? [] : [{ symbol: `RATE_${scope.toUpperCase()}_${tag}`, options: [who, `${n}>${rule?.limit}`] }];
    },
  };
}

/** Counts at MAIL (messages) and RCPT (recipients); trusted networks are limited too unless authenticated. */
export function createRateLimitChecks(opts: RateLimitOptions): Check[] {
  const checks: Check[] = [];
  if (opts.perIp.messages || opts.perUser.messages) checks.push(rateCheck(opts, 'rate_messages', 'mail', 'messages', 'msg'));
  if (opts.perIp.recipients || opts.perUser.recipients) checks.push(rateCheck(opts, 'rate_recipients', 'rcpt', 'recipients', 'rcpt'));
  return checks;
}
