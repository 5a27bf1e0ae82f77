// External report destinations (RFC 7489 §7.1): a rua at a domain outside the Organizational Domain of the policy
// domain may be written to only when `<policy-domain>._report._dmarc.<rua-domain>` has a TXT record starting with
// v=DMARC1, the destination's consent to receive that domain's reports. DNS trouble is a result, never a throw.
import type { Resolver } from '../dns/resolver.ts';

export type DestinationCheck = 'internal' | 'authorized' | 'unauthorized' | 'temperror';

/** The rua domain is the organizational domain of the policy domain or below it: no authorisation needed. */
export const sameOrganization = (ruaDomain: string, orgDomain: string): boolean => ruaDomain === orgDomain || ruaDomain.endsWith(`.${orgDomain}`);

export async function checkDestination(resolver: Resolver, policyDomain: string, orgDomain: string, ruaDomain: string): Promise<DestinationCheck> {
  if (sameOrganization(ruaDomain.toLowerCase(), orgDomain.toLowerCase())) return 'internal';
  // RFC 7489 §7.1: the receiver MUST query <domain>._report._dmarc.<host> before sending reports there
  const r = await resolver.lookup(`${policyDomain}._report._dmarc.${ruaDomain}`, 'TXT');
  if (r.status === 'temperror') return 'temperror';
  if (r.status !== 'ok') return 'unauthorized';
  // RFC 7489 §7.1: a record that does not start with "v=DMARC1" is discarded; one that does authorises
  return r.records.some((txt) => /^v[ \t]*=[ \t]*DMARC1[ \t]*(;|$)/.test(txt)) ? 'authorized' : 'unauthorized';
}
