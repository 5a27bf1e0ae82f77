// Per client IP and per authenticated user message/recipient rates, counted in a RateStore. A store that
// fails (Redis down, redis.on_error tempfail) is RATE_STORE_UNAVAILABLE, never a claimed "limit exceeded".
import type { RateStore } from '../limits/rate-store.ts';
import type { Check, CheckContext, SymbolHit } from './types.ts';

export interface RateRule {
  limit: number;
  window: number;
}

export interface RateLimitOptions {
  store: RateStore;
  perIp: { messages?: RateRule; recipients?: RateRule };
  perUser: { messages?: RateRule; recipients?: RateRule };
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
    n = await store.hit(key, rule.window);
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

/** Counts at MAIL (messages) and RCPT (recipients); trusted networks are limited too unless authenticated. */
export function createRateLimitChecks(opts: RateLimitOptions): Check[] {
  const mail: Check = {
    name: 'rate_messages',
    phase: 'mail',
    symbols: ['RATE_IP_MESSAGES', 'RATE_USER_MESSAGES', 'RATE_STORE_UNAVAILABLE'],
    skipTrusted: false,
    async run(ctx): Promise<SymbolHit[]> {
      const user = ctx.session.authUser;
      if (user !== undefined) {
        const n = await over(opts.store, `user-msg:${user}`, opts.perUser.messages);
        if (n instanceof StoreFailure) return unavailable(ctx, n, 'user messages');
        return n === undefined ? [] : [{ symbol: 'RATE_USER_MESSAGES', options: [user, `${n}>${opts.perUser.messages?.limit}`] }];
      }
      const n = await over(opts.store, `ip-msg:${ctx.session.clientIp}`, opts.perIp.messages);
      if (n instanceof StoreFailure) return unavailable(ctx, n, 'ip messages');
      return n === undefined ? [] : [{ symbol: 'RATE_IP_MESSAGES', options: [ctx.session.clientIp, `${n}>${opts.perIp.messages?.limit}`] }];
    },
  };
  const rcpt: Check = {
    name: 'rate_recipients',
    phase: 'rcpt',
    symbols: ['RATE_IP_RECIPIENTS', 'RATE_USER_RECIPIENTS', 'RATE_STORE_UNAVAILABLE'],
    skipTrusted: false,
    async run(ctx): Promise<SymbolHit[]> {
      const user = ctx.session.authUser;
      if (user !== undefined) {
        const n = await over(opts.store, `user-rcpt:${user}`, opts.perUser.recipients);
        if (n instanceof StoreFailure) return unavailable(ctx, n, 'user recipients');
        return n === undefined ? [] : [{ symbol: 'RATE_USER_RECIPIENTS', options: [user, `${n}>${opts.perUser.recipients?.limit}`] }];
      }
      const n = await over(opts.store, `ip-rcpt:${ctx.session.clientIp}`, opts.perIp.recipients);
      if (n instanceof StoreFailure) return unavailable(ctx, n, 'ip recipients');
      return n === undefined ? [] : [{ symbol: 'RATE_IP_RECIPIENTS', options: [ctx.session.clientIp, `${n}>${opts.perIp.recipients?.limit}`] }];
    },
  };
  const checks: Check[] = [];
  if (opts.perIp.messages || opts.perUser.messages) checks.push(mail);
  if (opts.perIp.recipients || opts.perUser.recipients) checks.push(rcpt);
  return checks;
}
