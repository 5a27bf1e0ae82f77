// Builds DANE's DNSSEC-aware look-ups from config (outbound.dane: on): the name servers of dns.servers (the config
// refuses any that is not loopback) or /etc/resolv.conf, whose non-loopback entries are warned about at start,
// since their AD bit crosses a network nobody authenticates (RFC 7672 §2.1.3).
import type { Config } from '../config/schema.ts';
import { isLoopbackEntry } from '../config/cross-checks.ts';
import { createSecureDns, type SecureDns } from '../dns/secure-dns.ts';
import { resolveNameServers } from '../dns/servers.ts';
import type { Logger } from '../util/logger.ts';

export function openDane(config: Pick<Config, 'outbound' | 'dns'>, log: Logger): SecureDns | undefined {
  if (config.outbound.dane !== 'on') return undefined;
  const servers = resolveNameServers(config.dns.servers);
  const remote = servers.filter((s) => !isLoopbackEntry(s.host));
  if (remote.length) {
    log.warn('outbound.dane: the name servers of /etc/resolv.conf are not on this host; DANE trusts their AD bit, which anyone on the path can forge: use a validating resolver on 127.0.0.1', { servers: remote.map((s) => s.host) });
  }
  return createSecureDns({ servers, timeoutMs: config.dns.timeout, retries: config.dns.retries });
}
