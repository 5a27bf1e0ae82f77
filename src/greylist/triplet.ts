// The greylisting triplet (RFC 6647): client network (IPv4 /24, IPv6 /64 by default, since big
// senders retry from another address of the same pool), normalised sender, recipient.
import { ipToBigInt, ipv4Text, unwrapIpv4 } from '../util/cidr.ts';

export interface Triplet {
  network: string;
  sender: string;
  recipient: string;
}

/**
 * "203.0.113.7" → "203.0.113.0/24"; "2001:db8::1" → "2001:db8:0:0:0:0:0:0/64"; an IPv4 host behind NAT64
 * ("64:ff9b::203.0.113.7") as that IPv4 address; unparsable: the text itself.
 */
export function clientNetwork(ip: string, v4Prefix = 24, v6Prefix = 64): string {
  const text = ipToBigInt(ip);
  if (!text) return ip.toLowerCase();
  const parsed = unwrapIpv4(text);
  const bits = parsed.family === 4 ? 32 : 128;
  const prefix = parsed.family === 4 ? v4Prefix : v6Prefix;
  const shift = BigInt(bits - prefix);
  const net = (parsed.value >> shift) << shift;
  if (parsed.family === 4) return `${ipv4Text(net)}/${prefix}`;
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((net >> BigInt(i * 16)) & 0xffffn).toString(16));
  return `${groups.join(':')}/${prefix}`;
}

/**
 * Sender as greylisting compares it: lower-cased, BATV tag (prvs=tag=) removed and digit runs in the
 * local part folded to '#', so VERP/BATV bounce addresses of one list count as one sender; '<>' for null.
 */
export function normalizeSender(sender: string): string {
  if (!sender) return '<>';
  const lower = sender.toLowerCase();
  const at = lower.lastIndexOf('@');
  const local = at < 0 ? lower : lower.slice(0, at);
  const domain = at < 0 ? '' : lower.slice(at);
  const unbatv = local.replace(/^(?:prvs|msprvs\d?|btv1)=[^=]+=/, '');
  return unbatv.replace(/\d+/g, '#') + domain;
}

export function tripletOf(clientIp: string, sender: string, recipient: string, v4Prefix = 24, v6Prefix = 64): Triplet {
  return { network: clientNetwork(clientIp, v4Prefix, v6Prefix), sender: normalizeSender(sender), recipient: recipient.toLowerCase() };
}
