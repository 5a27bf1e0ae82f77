// What MX delivery and relay delivery share: the addresses of one next-hop host (A/AAAA through the injected
// Resolver, or an address literal; outbound.family applies) and the transactions with one host, with the
// further rounds a recipient limit (452) calls for.
import net from 'node:net';
import os from 'node:os';
import type { Config } from '../config/schema.ts';
import type { Resolver } from '../dns/resolver.ts';
import type { ConnectionPool } from '../queue/connection-pool.ts';
import { successActionAfterHandOver } from '../queue/dsn-policy.ts';
import { sendPooled } from '../queue/pooled-send.ts';
import { outcome, type RecipientOutcome } from '../queue/router.ts';
import type { DsnParameters, NextHopReply } from '../queue/types.ts';
import type { NextHopClient } from '../smtp/next-hop-client.ts';
import { literalAddress } from './mx-plan.ts';

/** Addresses used of one host (RFC 5321 §5.1 allows a configurable limit; at least two). */
export const MAX_ADDRESSES_PER_HOST = 4;
/** Further transactions on one connection for recipients a host put off with 452 after taking others (RFC 5321 §4.5.3.1.10). */
const MAX_452_ROUNDS = 20;

export type HostAddresses = { status: 'ok'; addresses: string[] } | { status: 'none' } | { status: 'temp'; reason: string };

/**
 * 0.0.0.0/8 and :: name no host (RFC 1122 §3.2.1.3, RFC 4291 §2.5.2), yet connecting to them reaches this
 * machine: an MX that points there (a common way of saying "no mail here") is a host without an address.
 */
function isUnspecified(address: string): boolean {
  const a = address.toLowerCase().replace(/^::ffff:(?=\d+\.)/, '');
  return /^0\./.test(a) || /^[0:]+$/.test(a);
}

export async function addressesOf(resolver: Resolver, host: string, family: Config['outbound']['family']): Promise<HostAddresses> {
  // an address literal (RFC 5321 §4.1.3) is its own address, if outbound.family allows it
  const literal = literalAddress(host);
  if (literal !== undefined) {
    const v6 = net.isIPv6(literal);
    return isUnspecified(literal) || (v6 && family === 'ipv4') || (!v6 && family === 'ipv6') ? { status: 'none' } : { status: 'ok', addresses: [literal] };
  }
  const types = family === 'ipv4' ? (['A'] as const) : family === 'ipv6' ? (['AAAA'] as const) : (['A', 'AAAA'] as const);
  const addresses: string[] = [];
  let temp: string | undefined;
  for (const t of types) {
    const r = await resolver.lookup(host, t);
    if (r.status === 'ok') addresses.push(...r.records.filter((a) => net.isIP(a) !== 0 && !isUnspecified(a)));
    else if (r.status === 'temperror') temp = r.reason;
  }
  const unique = [...new Set(addresses)].slice(0, MAX_ADDRESSES_PER_HOST);
  if (unique.length) return { status: 'ok', addresses: unique };
  return temp ? { status: 'temp', reason: temp } : { status: 'none' };
}

export interface HostTransactions {
  pool: ConnectionPool<NextHopClient>;
  /** Pool key: the host, its address and port, and whatever else sets connections apart. */
  key: string;
  connect: () => Promise<NextHopClient>;
  /** The host's name, recorded as the Remote-MTA of its replies. */
  host: string;
  from: string;
  recipients: readonly string[];
  message: Buffer;
  dsn?: DsnParameters | undefined;
  /** Final outcomes (delivered, permanent) are set here as they come, also when a later round throws. */
  results: Map<string, RecipientOutcome>;
}

/**
 * Transactions with one host until each recipient has a final outcome or a temporary one: the recipients
 * it put off (to try elsewhere or later) and the last such reply. Throws NextHopConnectionError when a
 * connection fails (results keeps what was settled before).
 */
export async function transactWithHost(h: HostTransactions): Promise<{ deferred: string[]; lastTemp?: NextHopReply }> {
  let batch = [...h.recipients];
  const deferred: string[] = [];
  let lastTemp: NextHopReply | undefined;
  for (let round = 0; batch.length && round < MAX_452_ROUNDS; round++) {
    const tx = await sendPooled(h.pool, h.key, h.connect, h.from, batch, h.message, h.dsn);
    const tooMany: string[] = [];
    let tookSome = false;
    for (const r of batch) {
      const reply = tx.recipients.get(r) ?? { code: 451, enhanced: '4.4.0', text: 'no reply for this recipient' };
      const o = outcome(reply, 'remote', h.host, successActionAfterHandOver(tx.dsnPassedOn, false));
      if (o.status === 'delivered') tookSome = true;
      // Temporary at this host: another host may take it (RFC 5321 §5.1), or a later attempt.
      if (o.status !== 'temp') h.results.set(r, o);
      else {
        lastTemp = reply;
        (reply.code === 452 ? tooMany : deferred).push(r);
      }
    }
    // RFC 5321 §4.5.3.1.10: 452 after others were taken is a recipient limit: send the rest in a new transaction.
    batch = tookSome ? tooMany : [];
    if (!tookSome) deferred.push(...tooMany);
  }
  deferred.push(...batch);
  return { deferred, ...(lastTemp ? { lastTemp } : {}) };
}

type SourceAddresses = Pick<Config['outbound'], 'source_address' | 'source_address_v6'>;

/** outbound.source_address (or _v6) for a connection to `address`; none set for its family: the system's choice. */
export function sourceAddressFor(cfg: SourceAddresses, address: string): { localAddress?: string } {
  const local = net.isIPv6(address) ? cfg.source_address_v6 : cfg.source_address;
  return local ? { localAddress: local } : {};
}

/**
 * Source addresses no interface of this host has now (a typo, an address not yet brought up): every connection from
 * one fails (EADDRNOTAVAIL) and the mail waits in the queue, so it is said at start. Not refused: an address may come
 * up after spamgate (a failover address, a container's network set up late).
 */
export function foreignSourceAddresses(cfg: SourceAddresses): string[] {
  const local = new Set(Object.values(os.networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address.toLowerCase())));
  // all of 127/8 is this host's (the loopback interface lists only 127.0.0.1)
  return [cfg.source_address, cfg.source_address_v6].filter((a): a is string => a !== undefined && !local.has(a.toLowerCase()) && !a.startsWith('127.'));
}
