// Addresses that are no public Internet host: private, loopback, link-local, shared (CGNAT), unspecified,
// multicast and reserved ranges (RFC 6890 registries). A link to one says nothing a public list could know.
// An IPv6 address that carries an IPv4 one (IPv4-mapped, IPv4-translated, IPv4-compatible, NAT64, 6to4) is judged by that IPv4
// address: ::ffff:10.0.0.1 or 2002:a00:1:: reaches (or names) the private host 10.0.0.1.
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
  '64:ff9b:1::/48', // NAT64 local-use prefix (RFC 8215): a translator inside a network
  '100::/64', // discard-only (RFC 6666)
  '2001:2::/48', // benchmarking (RFC 5180), as 198.18.0.0/15
  'fc00::/7', // unique local (RFC 4193)
  'fe80::/10', // link-local
  'ff00::/8', // multicast
]);

const V4_COMPATIBLE_MAX = 0xffffffffn; // ::/96 (RFC 4291 §2.5.5.1, deprecated): ::a.b.c.d
const V4_TRANSLATED = 0xffffn << 48n; // ::ffff:0:0:0/96 (RFC 2765 §2.1, SIIT): ::ffff:0:a.b.c.d
const GLOBAL_UNICAST = 1n; // 2000::/3: the top three bits 001
const SIX_TO_FOUR = 0x2002n; // 2002::/16 (RFC 3056 §2): 2002:AABB:CCDD::/48 is the site behind IPv4 AA.BB.CC.DD
const TEREDO = 0x20010000n; // 2001::/32 (RFC 4380 §4): prefix, server IPv4, flags, port and client IPv4 (both obfuscated)
const V4_MASK = 0xffffffffn;

type Parsed = { family: 4 | 6; value: bigint };

/**
 * The IPv4 host an IPv6 address stands for (mapped, NAT64 well-known prefix, IPv4-translated, IPv4-compatible);
 * else the address.
 */
function asIpv4Host(addr: Parsed): Parsed {
  const unwrapped = unwrapIpv4(addr);
  if (unwrapped.family === 4) return unwrapped;
  // ::ffff:0:10.0.0.1 is the SIIT translator's name for the IPv4 host 10.0.0.1, one group off the mapped form
  if (addr.value >> 32n << 32n === V4_TRANSLATED) return { family: 4, value: addr.value & 0xffffffffn };
  // :: and ::1 are in ::/96 too: as 0.0.0.0 and 0.0.0.1 they stay non-public ("this network")
  return addr.value <= V4_COMPATIBLE_MAX ? { family: 4, value: addr.value } : addr;
}

/**
 * The IPv4 addresses a tunnelled IPv6 address is reached through: the 6to4 router a 2002::/16 address sits behind;
 * the Teredo server and the client's mapped address (its NAT's, stored with every bit inverted: RFC 4380 §4) of a
 * 2001::/32 address. Empty for any other address.
 */
function tunnelIpv4s(addr: Parsed): string[] {
  if (addr.family !== 6) return [];
  const v4 = (value: bigint): string => ipText({ family: 4, value: value & V4_MASK });
  if (addr.value >> 112n === SIX_TO_FOUR) return [v4(addr.value >> 80n)];
  if (addr.value >> 96n === TEREDO) return [v4(addr.value >> 64n), v4(addr.value ^ V4_MASK)];
  return [];
}

/**
 * The address in its canonical form when it may be a public host (IPv4-mapped, IPv4-compatible and NAT64 forms as
 * their IPv4 address); else undefined. A 6to4 or Teredo address stays IPv6 (a host behind the tunnel, not its
 * router, server or NAT) but is public only when each IPv4 address it embeds is.
 */
export function publicAddress(ip: string): string | undefined {
  const parsed = ipToBigInt(ip);
  if (!parsed) return undefined;
  const host = asIpv4Host(parsed);
  // global unicast is 2000::/3 (RFC 4291 §2.4, IANA's IPv6 address space): the rest is reserved by the IETF, or
  // one of the ranges above, as 240.0.0.0/4 is for IPv4
  if (host.family === 6 && host.value >> 125n !== GLOBAL_UNICAST) return undefined;
  const text = ipText(host);
  if (NOT_PUBLIC.has(text)) return undefined;
  return tunnelIpv4s(host).some((v4) => NOT_PUBLIC.has(v4)) ? undefined : text;
}
