// Outbound delivery by recipient domain: a domain of outbound.routes (or a subdomain of a `.domain` entry) to its own
// relay host, any other to outbound.relay when set (relay.ts), else to the domain's MX hosts: mx-delivery.ts walks
// them, mx-tls.ts decides each host's TLS (MTA-STS, DANE), mx-connect.ts makes and counts the connections.
import type { RelayConfig } from '../config/sections/relay.ts';
import { foreignSourceAddresses } from './host-delivery.ts';
import { createMxDelivery } from './mx-delivery.ts';
import type { Outbound, OutboundOptions } from './outbound-types.ts';
import { createRelayDelivery } from './relay.ts';
import { matchRoute } from './route-match.ts';

export { orderMx, planMx, type MxPlan } from './mx-plan.ts';
export { MAX_ADDRESSES_PER_HOST } from './host-delivery.ts';
export { MAX_CONNECTION_ATTEMPTS } from './mx-delivery.ts';
export { MTA_STS_CACHE_FILE } from './mx-tls.ts';
export type { Outbound, OutboundConfig, OutboundOptions } from './outbound-types.ts';

/**
 * Remote delivery by recipient domain: a domain of outbound.routes (or a subdomain of a `.domain` entry) to its own relay host, any other to
 * outbound.relay when set, else to the domain's MX hosts. Relayed mail has no MX lookup and no MTA-STS (relay.ts).
 */
export function createOutbound(opts: OutboundOptions): Outbound {
  const cfg = opts.config;
  const helo = cfg.helo_name ?? opts.hostname;
  const log = opts.log.child({ component: 'outbound' });
  const foreign = foreignSourceAddresses(cfg);
  if (foreign.length) log.warn('outbound source address not on any interface of this host: connections from it fail and mail waits in the queue until it is', { addresses: foreign });
  const relayed = (relay: RelayConfig, route?: string): Outbound =>
    createRelayDelivery({ resolver: opts.resolver, config: cfg, relay, heloName: helo, log: route ? log.child({ route }) : log, ...(opts.registry ? { registry: opts.registry } : {}) });
  const routes = new Map(Object.entries(cfg.routes ?? {}).map(([domain, relay]) => [domain, relayed(relay, domain)]));
  const fallback = cfg.relay ? relayed(cfg.relay) : createMxDelivery(opts);
  if (!routes.size) return fallback;
  const all = [...routes.values(), fallback];
  return {
    poolSize: (key) => all.reduce((n, d) => n + d.poolSize(key), 0),
    deliver: (from, domain, recipients, message, dsn) => (matchRoute(routes, domain) ?? fallback).deliver(from, domain, recipients, message, dsn),
    close: async () => {
      for (const d of all) await d.close();
    },
  };
}
