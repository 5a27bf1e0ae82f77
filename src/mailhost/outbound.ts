// Outbound MX delivery: MX lookup through the injected Resolver (A/AAAA fallback, null MX),
// hosts in preference order, next host on connection failure or 4xx, pooled SMTP connections.
import net from 'node:net';
import type { Config } from '../config/schema.ts';
import type { Resolver } from '../dns/resolver.ts';
import { ConnectionPool } from '../queue/connection-pool.ts';
import { successActionAfterHandOver } from '../queue/dsn-policy.ts';
import { sendPooled } from '../queue/pooled-send.ts';
import { outcome, type RecipientOutcome, type RemoteDelivery } from '../queue/router.ts';
import type { DsnParameters, NextHopReply } from '../queue/types.ts';
import { NextHopClient } from '../smtp/next-hop-client.ts';
import type { Logger } from '../util/logger.ts';

export type OutboundConfig = Config['outbound'];

export interface OutboundOptions {
  resolver: Resolver;
  config: OutboundConfig;
  /** EHLO name (config.helo_name wins). */
  hostname: string;
  log: Logger;
  /** Randomness for ordering equal-preference MX hosts (tests pass a fixed one). */
  random?: () => number;
}

export type MxPlan =
  | { kind: 'hosts'; hosts: string[]; implicit: boolean }
  | { kind: 'fail'; status: 'temp' | 'perm'; reply: NextHopReply };

/** Sorts by preference, shuffling hosts of equal preference (RFC 5321 §5.1). */
export function orderMx(records: { exchange: string; priority: number }[], random: () => number = Math.random): string[] {
  const keyed = records.map((r) => ({ r, k: random() }));
  keyed.sort((a, b) => a.r.priority - b.r.priority || a.k - b.k);
  return keyed.map(({ r }) => r.exchange.toLowerCase().replace(/\.$/, ''));
}

export async function planMx(resolver: Resolver, domain: string, random?: () => number): Promise<MxPlan> {
  const mx = await resolver.lookup(domain, 'MX');
  if (mx.status === 'temperror') return { kind: 'fail', status: 'temp', reply: { code: 451, enhanced: '4.4.3', text: `MX lookup for ${domain} failed: ${mx.reason}` } };
  if (mx.status === 'nxdomain') return { kind: 'fail', status: 'perm', reply: { code: 550, enhanced: '5.1.2', text: `domain ${domain} does not exist` } };
  // RFC 5321 §5.1: no MX records → the domain itself is the implicit MX (preference 0).
  if (mx.status !== 'ok' || !mx.records.length) return { kind: 'hosts', hosts: [domain], implicit: true };
  // RFC 7505 §3: a single MX of "." (null MX) says the domain accepts no mail.
  if (mx.records.some((r) => r.exchange === '' || r.exchange === '.')) {
    return { kind: 'fail', status: 'perm', reply: { code: 556, enhanced: '5.1.10', text: `domain ${domain} does not accept mail (null MX)` } };
  }
  return { kind: 'hosts', hosts: orderMx(mx.records, random), implicit: false };
}

type HostAddresses = { status: 'ok'; addresses: string[] } | { status: 'none' } | { status: 'temp'; reason: string };

async function addressesOf(resolver: Resolver, host: string, family: OutboundConfig['family']): Promise<HostAddresses> {
  if (net.isIP(host)) return { status: 'ok', addresses: [host] };
  const types = family === 'ipv4' ? (['A'] as const) : family === 'ipv6' ? (['AAAA'] as const) : (['A', 'AAAA'] as const);
  const addresses: string[] = [];
  let temp: string | undefined;
  for (const t of types) {
    const r = await resolver.lookup(host, t);
    if (r.status === 'ok') addresses.push(...r.records);
    else if (r.status === 'temperror') temp = r.reason;
  }
  if (addresses.length) return { status: 'ok', addresses };
  return temp ? { status: 'temp', reason: temp } : { status: 'none' };
}

export interface Outbound extends RemoteDelivery {
  /** Open connections to one host:port (tests check reuse). */
  poolSize(key: string): number;
}

export function createOutbound(opts: OutboundOptions): Outbound {
  const cfg = opts.config;
  const helo = cfg.helo_name ?? opts.hostname;
  const pool = new ConnectionPool<NextHopClient>({
    maxPerKey: cfg.max_connections_per_destination,
    idleTimeout: cfg.idle_timeout,
    maxMessagesPerConnection: cfg.max_messages_per_connection,
  });
  const log = opts.log.child({ component: 'outbound' });

  return {
    poolSize: (key) => pool.size(key),
    async deliver(from, domain, recipients, message, dsn?: DsnParameters) {
      const results = new Map<string, RecipientOutcome>();
      const plan = await planMx(opts.resolver, domain, opts.random);
      if (plan.kind === 'fail') {
        for (const r of recipients) results.set(r, { status: plan.status, reply: plan.reply, destination: 'remote' });
        return results;
      }
      let remaining = [...recipients];
      let lastTemp: NextHopReply = { code: 451, enhanced: '4.4.4', text: `no usable mail server for ${domain}` };
      let lastMta: string | undefined;
      let sawAddress = false;
      let sawTempDns = false;
      // Bounded by max_mx_hosts hosts and their addresses.
      for (const host of plan.hosts.slice(0, cfg.max_mx_hosts)) {
        if (!remaining.length) break;
        const addrs = await addressesOf(opts.resolver, host, cfg.family);
        if (addrs.status !== 'ok') {
          if (addrs.status === 'temp') {
            sawTempDns = true;
            lastTemp = { code: 451, enhanced: '4.4.3', text: `address lookup for ${host} failed: ${addrs.reason}` };
          }
          continue;
        }
        sawAddress = true;
        for (const address of addrs.addresses) {
          if (!remaining.length) break;
          const key = `${host}|${address}:${cfg.port}`;
          const create = (): Promise<NextHopClient> =>
            NextHopClient.connect({
              host: address,
              port: cfg.port,
              heloName: helo,
              connectTimeout: cfg.connect_timeout,
              commandTimeout: cfg.command_timeout,
              starttls: cfg.starttls,
              tlsVerify: cfg.tls_verify,
              ...(net.isIP(host) ? {} : { servername: host }),
            });
          try {
            const tx = await sendPooled(pool, key, create, from, remaining, message, dsn);
            const next: string[] = [];
            for (const r of remaining) {
              const reply = tx.recipients.get(r) ?? { code: 451, enhanced: '4.4.0', text: 'no reply for this recipient' };
              const o = outcome(reply, 'remote', host, successActionAfterHandOver(tx.dsnPassedOn, false));
              // Temporary at this host: the next MX may take it (RFC 5321 §5.1).
              if (o.status === 'temp') {
                lastTemp = reply;
                lastMta = host;
                next.push(r);
              } else results.set(r, o);
            }
            remaining = next;
            if (remaining.length) break; // this host answered; try the next host, not its other addresses
          } catch (err) {
            log.debug('MX connection failed', { host, address, err });
            lastTemp = { code: 451, enhanced: '4.4.1', text: `${host} [${address}]: ${(err as Error).message}` };
            lastMta = host;
          }
        }
      }
      if (remaining.length && !sawAddress && !sawTempDns && plan.implicit) {
        // No MX and no address: nowhere to deliver (RFC 5321 §5.1).
        for (const r of remaining) results.set(r, { status: 'perm', reply: { code: 550, enhanced: '5.1.2', text: `domain ${domain} has no mail server` }, destination: 'remote' });
        return results;
      }
      for (const r of remaining) results.set(r, { status: 'temp', reply: lastTemp, destination: 'remote', ...(lastMta ? { remoteMta: lastMta } : {}) });
      return results;
    },
    close: () => pool.close(),
  };
}
