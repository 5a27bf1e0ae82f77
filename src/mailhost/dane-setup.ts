// Builds DANE's DNSSEC-aware look-ups from config (outbound.dane: on): the name servers of dns.servers (the config
// refuses any that is not loopback) or /etc/resolv.conf, whose non-loopback entries are warned about at start,
// since their AD bit crosses a network nobody authenticates (RFC 7672 §2.1.3); and a probe at start that the resolver
// validates at all.
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
  const dns = createSecureDns({ servers, timeoutMs: config.dns.timeout, retries: config.dns.retries });
  void probeValidation(dns).then((result) => {
    if (result === 'validating') log.info('outbound.dane: the resolver validates (AD bit on the root NS RRset)');
    else if (result === 'not_validating') log.warn('outbound.dane: the resolver does not validate (no AD bit on the root NS RRset): every domain will look insecure and DANE will never apply; use a DNSSEC-validating resolver', { servers: servers.map((s) => s.host) });
    else log.warn('outbound.dane: the resolver did not answer the DNSSEC probe (the root NS RRset); DANE applies only where its answers carry the AD bit', { servers: servers.map((s) => s.host) });
  }).catch(() => undefined); // a start-up remark: nothing of it may end the process
  return dns;
}

export type ProbeResult = 'validating' | 'not_validating' | 'no_answer';

/**
 * As Postfix's dnssec_probe: the root zone's NS RRset asked with the AD bit. A validating resolver answers it
 * authenticated; without AD every MX RRset would look insecure and DANE would never apply, which nothing else
 * shows but the mx_insecure count. Never throws, never blocks delivery.
 */
export async function probeValidation(dns: SecureDns): Promise<ProbeResult> {
  const answer = await dns.lookup('.', 'NS');
  if (answer.status === 'temperror') return 'no_answer';
  return answer.secure ? 'validating' : 'not_validating';
}
