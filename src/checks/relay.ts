// Relay control at RCPT: local domains from anyone; other domains only for trusted or authenticated clients.
// Routing tricks in the local part (%, !, @) and address literals are never treated as local mail.
import { isLocalDomain, isPostmaster, parseAddress } from '../smtp/address.ts';
import type { Check, SymbolHit } from './types.ts';

export interface RelayOptions {
  localDomains: ReadonlySet<string>;
  /** Relaying clients must use a local-domain MAIL FROM. */
  requireLocalSender: boolean;
  /** POP/IMAP-before-SMTP: client addresses recently authenticated. */
  isRecentlyAuthenticated?: (ip: string) => boolean;
}

export const RELAY_SYMBOLS = ['RELAY_DENIED', 'RELAY_ROUTING_SYNTAX', 'RELAY_SENDER_NOT_LOCAL', 'RELAY_ALLOWED'] as const;

export function createRelayCheck(opts: RelayOptions): Check {
  return {
    name: 'relay',
    phase: 'rcpt',
    symbols: RELAY_SYMBOLS,
    skipTrusted: false,
    run(ctx): SymbolHit[] {
      const rcpt = parseAddress(ctx.rcpt ?? '');
      const mayRelay = ctx.session.trusted || ctx.session.authUser !== undefined || (opts.isRecentlyAuthenticated?.(ctx.session.clientIp) ?? false);
      if (isPostmaster(rcpt, opts.localDomains) && !rcpt.trick) return [];
      const local = isLocalDomain(rcpt.domain, opts.localDomains) && !rcpt.literal;
      if (local && rcpt.trick === undefined) return [];
      if (!mayRelay) {
        // %-hack, bang paths, "@" in the local part: a classic open-relay probe even at a local domain.
        if (local && rcpt.trick) return [{ symbol: 'RELAY_ROUTING_SYNTAX', options: [rcpt.trick] }];
        return [{ symbol: 'RELAY_DENIED', options: [rcpt.domain || 'no-domain'] }];
      }
      if (opts.requireLocalSender && !local) {
        const from = parseAddress(ctx.envelope.mailFrom);
        if (!isLocalDomain(from.domain, opts.localDomains)) return [{ symbol: 'RELAY_SENDER_NOT_LOCAL', options: [from.domain || 'null-sender'] }];
      }
      return local ? [] : [{ symbol: 'RELAY_ALLOWED', options: [ctx.session.authUser ? 'auth' : 'trusted'] }];
    },
  };
}
