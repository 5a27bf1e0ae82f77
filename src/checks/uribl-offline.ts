// The URI block list checks for `spamgate explain`: the rules' enabled uri, uri_ip, uri_ns and from_header lists asked
// live through a resolver built from the config's dns section, as the gateway asks them (health test points
// first). Only when such a list is enabled and its check not in checks.disabled: otherwise explain stays offline.
import type { LoadedConfig } from '../config/load.ts';
import { createResolver } from '../dns/dns2-resolver.ts';
import { createDnsblEngine } from '../dns/dnsbl.ts';
import type { DnsblSection } from '../dns/dnsbl-rules.ts';
import { uriblSettings, type UriblSection } from '../dns/uribl-rules.ts';
import type { MimeLimits } from '../mime/parse.ts';
import type { Ruleset } from '../scoring/ruleset.ts';
import { systemClock } from '../util/clock.ts';
import { silentLogger } from '../util/logger.ts';
import type { Check } from './types.ts';
import { createUriblChecks } from './uribl.ts';

const DATA_KINDS: ReadonlySet<string> = new Set(['uri', 'uri_ip', 'uri_ns', 'from_header']);

export function offlineUriblChecks(loaded: LoadedConfig, ruleset: Ruleset, limits: MimeLimits): Check[] {
  const { config } = loaded;
  const lists: DnsblSection = Object.fromEntries(Object.entries(ruleset.section<DnsblSection>('dnsbl') ?? {}).filter(([, l]) => l.enabled && DATA_KINDS.has(l.kind)));
  if (!Object.keys(lists).length || (config.checks.disabled.includes('uribl') && config.checks.disabled.includes('rhsbl_from_header'))) return [];
  const resolver = createResolver({
    ...(config.dns.servers ? { servers: config.dns.servers } : {}),
    timeoutMs: config.dns.timeout,
    retries: config.dns.retries,
    cacheSize: config.dns.cache_size,
  });
  const engine = createDnsblEngine({ resolver, lists, log: silentLogger, clock: systemClock });
  const checks = createUriblChecks({ engine, resolver, section: lists, settings: uriblSettings(ruleset.section<UriblSection>('uribl')), limits, localDomains: config.local_domains });
  // the gateway's own budget: a list that does not answer in time is a temperror here too
  return checks.filter((c) => !config.checks.disabled.includes(c.name)).map((c) => ({ ...c, timeoutMs: config.checks.timeout }));
}
