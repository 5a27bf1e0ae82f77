// Addresses that are no public Internet host: private, loopback, link-local, shared (CGNAT), unspecified,
// multicast and reserved ranges (RFC 6890 registries). A link to one says nothing a public list could know.
import { CidrSet, ipToBigInt, ipText, unwrapIpv4 } from './cidr.ts';

const NOT_PUBLIC = new CidrSet([
  '0.0.0.0/8', // "this network" (RFC 791)
  '10.0.0.0/8', // private (RFC 1918)
  '100.64.0.0/10', // shared address space, CGNAT (RFC 6598)
  '127.0.0.0/8', // loopback (RFC 1122)
  '169.254.0.0/16', // link-local (RFC 3927)
  '172.16.0.0/12', // private (RFC 1918)
  '192.0.0.0/24', // IETF protocol assignments (RFC 6890)
  '192.168.0.0/16', // private (RFC 1918)
  '198.18.0.0/15', // benchmarking (RFC 2544)
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved, and the limited broadcast address
  '::/128', // unspecified
  '::1/128', // loopback
  'fc00::/7', // unique local (RFC 4193)
  'fe80::/10', // link-local
  'ff00::/8', // multicast
]);

/** The address in its canonical form when it may be a public host (IPv4-mapped forms as IPv4); else undefined. */
export function publicAddress(ip: string): string | undefined {
  const parsed = ipToBigInt(ip);
  if (!parsed) return undefined;
  const text = ipText(unwrapIpv4(parsed));
  return NOT_PUBLIC.has(text) ? undefined : text;
}
