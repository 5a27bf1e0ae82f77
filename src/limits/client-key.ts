// The key a per-client limit counts under. An IPv4 address is one client; an IPv6 client usually holds a
// whole /64 (RFC 4291 §2.5.4: one subnet), and could take a fresh address, with a fresh budget, for every
// connection. So an IPv6 address counts as its network, written out in full: two spellings of one address
// (`2001:db8::1`, `2001:db8:0:0::1`) are one key. An IPv4 host seen through NAT64 (64:ff9b::/96) is that IPv4
// address: otherwise every IPv4 client of an IPv6-only server would share one budget.
import { clientNetwork } from '../greylist/triplet.ts';
import { ipToBigInt, ipv4Text, unwrapIpv4 } from '../util/cidr.ts';

export const DEFAULT_IPV6_PREFIX = 64;

export function clientKey(ip: string, ipv6Prefix = DEFAULT_IPV6_PREFIX): string {
  const parsed = ipToBigInt(ip);
  if (!parsed) return ip.toLowerCase();
  const host = unwrapIpv4(parsed);
  return host.family === 4 ? ipv4Text(host.value) : clientNetwork(ip, 32, ipv6Prefix);
}
