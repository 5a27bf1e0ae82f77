// Per client IP and per authenticated user message/recipient rates, counted in a RateStore.
import type { RateStore } from '../limits/rate-store.ts';
import type { Check, SymbolHit } from './types.ts';

export interface RateRule {
  limit: number;
  window: number;
}

export interface RateLimitOptions {
  store: RateStore;
  perIp: { messages?: RateRule; recipients?: RateRule };
  perUser: { messages?: RateRule; recipients?: RateRule };
}

export const RATE_SYMBOLS = ['RATE_IP_MESSAGES', 'RATE_IP_RECIPIENTS', 'RATE_USER_MESSAGES', 'RATE_USER_RECIPIENTS'] as const;

async function over(store: RateStore, key: string, rule: RateRule | undefined): Promise<number | undefined> {
  if (!rule) return undefined;
  const n = await store.hit(key, rule.window);
  return n > rule.limit ? n : undefined;
}

/** Counts at MAIL (messages) and RCPT (recipients); trusted networks are limited too unless authenticated. */
export function createRateLimitChecks(opts: RateLimitOptions): Check[] {
  const mail: Check = {
    name: 'rate_messages',
    phase: 'mail',
    symbols: ['RATE_IP_MESSAGES', 'RATE_USER_MESSAGES'],
    skipTrusted: false,
    async run(ctx): Promise<SymbolHit[]> {
      const user = ctx.session.authUser;
      if (user !== undefined) {
        const n = await over(opts.store, `user-msg:${user}`, opts.perUser.messages);
        return n === undefined ? [] : [{ symbol: 'RATE_USER_MESSAGES', options: [user, `${n}>${opts.perUser.messages?.limit}`] }];
      }
      const n = await over(opts.store, `ip-msg:${ctx.session.clientIp}`, opts.perIp.messages);
      return n === undefined ? [] : [{ symbol: 'RATE_IP_MESSAGES', options: [ctx.session.clientIp, `${n}>${opts.perIp.messages?.limit}`] }];
    },
  };
  const rcpt: Check = {
    name: 'rate_recipients',
    phase: 'rcpt',
    symbols: ['RATE_IP_RECIPIENTS', 'RATE_USER_RECIPIENTS'],
    skipTrusted: false,
    async run(ctx): Promise<SymbolHit[]> {
      const user = ctx.session.authUser;
      if (user !== undefined) {
        const n = await over(opts.store, `user-rcpt:${user}`, opts.perUser.recipients);
        return n === undefined ? [] : [{ symbol: 'RATE_USER_RECIPIENTS', options: [user, `${n}>${opts.perUser.recipients?.limit}`] }];
      }
      const n = await over(opts.store, `ip-rcpt:${ctx.session.clientIp}`, opts.perIp.recipients);
      return n === undefined ? [] : [{ symbol: 'RATE_IP_RECIPIENTS', options: [ctx.session.clientIp, `${n}>${opts.perIp.recipients?.limit}`] }];
    },
  };
  const checks: Check[] = [];
  if (opts.perIp.messages || opts.perUser.messages) checks.push(mail);
  if (opts.perIp.recipients || opts.perUser.recipients) checks.push(rcpt);
  return checks;
}
