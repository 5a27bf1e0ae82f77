// Delivery to a recipient domain's MX hosts (RFC 5321 §5.1): the MX plan (mx-plan.ts) through the injected Resolver,
// hosts in preference order, never one at or below this server's own preference, the next host on a connection
// failure or 4xx, pooled SMTP connections, every try bounded. Each host's TLS (DANE, MTA-STS) is mx-tls.ts's call;
// what the recipients left over get, mx-outcome.ts's.
import { ConnectionPool } from '../queue/connection-pool.ts';
import type { RecipientOutcome } from '../queue/router.ts';
import type { DsnParameters, NextHopReply } from '../queue/types.ts';
import { NextHopConnectionError, type NextHopClient } from '../smtp/next-hop-client.ts';
import { addressesOf, transactWithHost, type HostAddresses } from './host-delivery.ts';
import { leftOverOutcome } from './mx-outcome.ts';
import { planMxHosts } from './mx-plan.ts';
import { createMxTls } from './mx-tls.ts';
import type { Outbound, OutboundOptions } from './outbound-types.ts';

/** Connection attempts per delivery (RFC 5321 §5.1 allows a configurable limit; at least two). */
export const MAX_CONNECTION_ATTEMPTS = 10;

/** Delivery to the recipient domain's MX hosts. */
export function createMxDelivery(opts: OutboundOptions): Outbound {
  const cfg = opts.config;
  const helo = cfg.helo_name ?? opts.hostname;
  const selfNames = [opts.hostname, helo, ...(opts.selfNames ?? [])];
  const pool = new ConnectionPool<NextHopClient>({
    maxPerKey: cfg.max_connections_per_destination,
    idleTimeout: cfg.idle_timeout,
    maxMessagesPerConnection: cfg.max_messages_per_connection,
  });
  const log = opts.log.child({ component: 'outbound' });
  const mxTls = createMxTls(opts, log);

  return {
    poolSize: (key) => pool.size(key),
    async deliver(from, domain, recipients, message, dsn?: DsnParameters) {
      const results = new Map<string, RecipientOutcome>();
      const setAll = (rcpts: readonly string[], o: RecipientOutcome): void => {
        for (const r of rcpts) results.set(r, o);
      };
      const plan = await planMxHosts(opts.resolver, domain, { ...(opts.random ? { random: opts.random } : {}), selfNames });
      if (plan.kind === 'fail') {
        setAll(recipients, { status: plan.status, reply: plan.reply, destination: 'remote' });
        return results;
      }
      const domainTls = await mxTls.forDomain(domain, plan.implicit, dsn?.tlsReport === true, message);
      if (domainTls.kind === 'defer') {
        setAll(recipients, { status: 'temp', reply: domainTls.reply, destination: 'remote' });
        return results;
      }
      const tls = domainTls.tls;
      let remaining = [...recipients];
      let lastTemp: NextHopReply = { code: 451, enhanced: '4.4.4', text: `no usable mail server for ${domain}` };
      let lastMta: string | undefined;
      /** The host whose own reply lastTemp is (none for a connection failure or a reply we made up). */
      let lastReporter: string | undefined;
      let sawAddress = false;
      let sawTempDns = false;
      let tried = 0;
      let loopAt: number | undefined;
      const hosts = plan.hosts.slice(0, cfg.max_mx_hosts);
      const lookups = new Map<string, Promise<HostAddresses>>();
      const addressesOfHost = (name: string): Promise<HostAddresses> => {
        let p = lookups.get(name);
        if (!p) lookups.set(name, (p = addressesOf(opts.resolver, name, cfg.family)));
        return p;
      };
      let levelChecked: number | undefined;
      /** A connection broke after the message body went out: no other host is tried in this attempt. */
      let afterBody = false;
      // Bounded: max_mx_hosts hosts, MAX_ADDRESSES_PER_HOST addresses each, MAX_CONNECTION_ATTEMPTS in all.
      for (const { name: host, priority } of hosts) {
        if (!remaining.length || tried >= MAX_CONNECTION_ATTEMPTS || afterBody) break;
        // RFC 5321 §5.1: hosts at or below our own preference are never used. Whether one of them is this
        // server by address is known only after a lookup: all hosts of a preference are looked at before any
        // of them is tried, so the shuffle of equal preferences cannot decide between a delivery and a loop.
        if (opts.isSelfAddress && levelChecked !== priority) {
          levelChecked = priority;
          for (const peer of hosts.filter((h) => h.priority === priority)) {
            const a = await addressesOfHost(peer.name);
            if (a.status === 'ok' && a.addresses.some((x) => opts.isSelfAddress?.(x, cfg.port))) {
              log.warn('MX host is this server: mail loop avoided', { domain, host: peer.name });
              loopAt = priority;
              sawAddress = true;
            }
          }
        }
        if (loopAt !== undefined && priority >= loopAt) break;
        const hostTls = await tls.host(host);
        if (!hostTls) continue;
        const addrs = await addressesOfHost(host);
        if (addrs.status !== 'ok') {
          if (addrs.status === 'temp') {
            sawTempDns = true;
            lastTemp = { code: 451, enhanced: '4.4.3', text: `address lookup for ${host} failed: ${addrs.reason}` };
          }
          continue;
        }
        sawAddress = true;
        for (const address of addrs.addresses) {
          if (!remaining.length || tried >= MAX_CONNECTION_ATTEMPTS) break;
          tried++;
          try {
            // a temporary reply at this host: the next MX may take the recipient (RFC 5321 §5.1)
            const round = await transactWithHost({ pool, key: hostTls.key(address), connect: hostTls.connect(address), host, from, recipients: remaining, message, dsn, results });
            if (round.lastTemp) {
              lastTemp = round.lastTemp;
              lastMta = host;
              // RFC 3464 §2.3.5: Remote-MTA names an MTA that reported the status; a reply we made up names none
              lastReporter = round.lastTemp.local ? undefined : host;
            }
            remaining = round.deferred;
            if (remaining.length) break; // this host answered; try the next host, not its other addresses
          } catch (err) {
            log.debug('MX connection failed', { host, address, err });
            lastTemp = { code: 451, enhanced: '4.4.1', text: `${host} [${address}]: ${(err as Error).message}`, local: true };
            lastMta = host;
            lastReporter = undefined;
            hostTls.failed(address, err);
            remaining = remaining.filter((r) => !results.has(r));
            if (err instanceof NextHopConnectionError && err.afterBody) {
              // The whole message went out and the reply never came: the host may have taken it. Another
              // address or MX now would send it again at once; the queue retries after its delay instead.
              lastTemp = { code: 451, enhanced: '4.4.2', text: `${host} [${address}]: connection lost after the message was sent (it may have been delivered): ${(err as Error).message}`, local: true };
              afterBody = true;
              break;
            }
          }
        }
      }
      setAll(remaining, leftOverOutcome({ domain, implicit: plan.implicit, refused: tls.refused(), lastTemp, lastMta, lastReporter, loopAt, sawAddress, sawTempDns }));
      return results;
    },
    close: async () => {
      await pool.close();
      await mxTls.close();
    },
  };
}
