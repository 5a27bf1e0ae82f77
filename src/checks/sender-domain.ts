// MAIL FROM domain: one that publishes a null MX (RFC 7505) says it sends no mail, so mail from it is
// refused (§4.2: 550 5.7.27 by the shipped rule); one that does not exist at all (no MX, A or AAAA: NXDOMAIN)
// cannot take a bounce. The null sender is not checked; trusted and authenticated clients are skipped by the runner.
import type { Resolver } from '../dns/resolver.ts';
import type { Check, SymbolHit } from './types.ts';
import { domainOf, isDomainSyntax, raceSignal } from './dns-common.ts';

export const SENDER_DOMAIN_SYMBOLS = ['FROM_NULL_MX', 'FROM_DOMAIN_NXDOMAIN', 'FROM_DOMAIN_TEMPERROR'];

async function senderDomain(resolver: Resolver, domain: string): Promise<SymbolHit[]> {
  const mx = await resolver.lookup(domain, 'MX');
  if (mx.status === 'temperror') return [{ symbol: 'FROM_DOMAIN_TEMPERROR', options: [domain, mx.reason] }];
  // RFC 7505 §3: a single MX of "." is a null MX.
  if (mx.status === 'ok' && mx.records.some((r) => r.exchange === '' || r.exchange === '.')) return [{ symbol: 'FROM_NULL_MX', options: [domain] }];
  if (mx.status !== 'nxdomain') return [];
  return [{ symbol: 'FROM_DOMAIN_NXDOMAIN', options: [domain] }];
}

export function createSenderDomainCheck(resolver: Resolver): Check {
  return {
    name: 'sender_domain',
    phase: 'mail',
    symbols: SENDER_DOMAIN_SYMBOLS,
    async run(ctx) {
      const domain = domainOf(ctx.envelope.mailFrom);
      // The null sender, and an address literal or a malformed domain (other checks judge those).
      if (domain === '' || !isDomainSyntax(domain) || !domain.includes('.')) return [];
      return raceSignal(senderDomain(resolver, domain), ctx.signal, () => [{ symbol: 'FROM_DOMAIN_TEMPERROR', options: [domain, 'deadline passed'] }]);
    },
  };
}
