// Forward-confirmed reverse DNS of the client: PTR names, then their A/AAAA must include the client address.
import { isIPv4 } from 'node:net';
import { reversedName } from '../dns/dnsbl.ts';
import type { Resolver } from '../dns/resolver.ts';
import { normalizeIp } from '../util/cidr.ts';
import type { Check, SymbolHit } from './types.ts';
import { raceSignal } from './dns-common.ts';

export const FCRDNS_SYMBOLS = ['RDNS_NONE', 'RDNS_FCRDNS_PASS', 'RDNS_FCRDNS_FAIL', 'RDNS_TEMPERROR'];
/** Key in ctx.results: the confirmed host name, when there is one. */
export const FCRDNS_RESULT_KEY = 'fcrdns';
const MAX_PTR_NAMES = 10;

async function fcrdns(resolver: Resolver, ip: string): Promise<SymbolHit> {
  const addr = normalizeIp(ip);
  const family = isIPv4(addr) ? 'A' : 'AAAA';
  const ptrName = reversedName(addr, isIPv4(addr) ? 'in-addr.arpa' : 'ip6.arpa');
  if (!ptrName) return { symbol: 'RDNS_NONE', options: [ip] };
  const ptr = await resolver.lookup(ptrName, 'PTR');
  if (ptr.status === 'temperror') return { symbol: 'RDNS_TEMPERROR', options: [ptr.reason] };
  if (ptr.status !== 'ok' || !ptr.records.length) return { symbol: 'RDNS_NONE', options: [ip] };
  const names = ptr.records.slice(0, MAX_PTR_NAMES);
  let tempfailed = false;
  for (const name of names) {
    const fwd = await resolver.lookup(name, family);
    if (fwd.status === 'temperror') tempfailed = true;
    if (fwd.status === 'ok' && fwd.records.some((r) => normalizeIp(r) === addr)) return { symbol: 'RDNS_FCRDNS_PASS', options: [name] };
  }
  return tempfailed ? { symbol: 'RDNS_TEMPERROR', options: names } : { symbol: 'RDNS_FCRDNS_FAIL', options: names };
}

export function createFcrdnsCheck(resolver: Resolver): Check {
  return {
    name: 'fcrdns',
    phase: 'connect',
    symbols: FCRDNS_SYMBOLS,
    async run(ctx) {
      const hit = await raceSignal(fcrdns(resolver, ctx.session.clientIp), ctx.signal, () => ({ symbol: 'RDNS_TEMPERROR', options: ['deadline passed'] }));
      if (hit.symbol === 'RDNS_FCRDNS_PASS' && hit.options?.[0]) ctx.results.set(FCRDNS_RESULT_KEY, hit.options[0]);
      return [hit];
    },
  };
}
