// Composition of every DNS-based check (SPF, DNSBL/RHSBL, URI block lists, HELO, FCrDNS, DKIM/DMARC/ARC): the one
// factory app.ts calls. The resolver, clock, registry and logger come from app.ts.
import type { Registry } from 'prom-client';
import { createDnsblEngine, type DnsblEngine } from '../dns/dnsbl.ts';
import type { DnsblHealthBook } from '../dns/dnsbl-health.ts';
import type { DnsblSection } from '../dns/dnsbl-rules.ts';
import type { Resolver } from '../dns/resolver.ts';
import { uriblSettings, type UriblSection } from '../dns/uribl-rules.ts';
import { DEFAULT_MIME_LIMITS, type MimeLimits } from '../mime/parse.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { createAuthCheck } from './dkim-dmarc.ts';
import { createDnsblChecks } from './dnsbl.ts';
import { createFcrdnsCheck } from './fcrdns.ts';
import { createHeloCheck } from './helo.ts';
import { createSenderDomainCheck } from './sender-domain.ts';
import { createSpfChecks } from './spf.ts';
import type { Check } from './types.ts';
import { createUriblChecks } from './uribl.ts';

export interface DnsChecksOptions {
  resolver: Resolver;
  /** The parsed `dnsbl` rules section (absent: no lists). */
  dnsbl?: DnsblSection;
  /** The parsed `uribl` rules section (max_uris, exclude). */
  uribl?: UriblSection;
  /** MIME bounds of the message the URI lists read (filter.*). */
  mimeLimits?: MimeLimits;
  /** local_domains: never asked in the URI and header-From lists. */
  localDomains?: readonly string[];
  /** smtp.hostname: Received-SPF receiver=, Authentication-Results authserv-id, HELO forgery. */
  hostname: string;
  /** Our own addresses (listener addresses); HELO claiming them is forged. */
  localAddresses?: readonly string[];
  registry?: Registry;
  /** The app's DNSBL health records across reloads (see DnsblEngineOptions.health). */
  dnsblHealth?: DnsblHealthBook;
  log: Logger;
  clock: Clock;
  /** arc.trusted_sealers (see arc-override.ts). */
  trustedSealers?: readonly string[];
}

export interface DnsChecks {
  checks: Check[];
  /** The block list engine: `await dnsbl.checkHealth()` at start-up probes every list at once. */
  dnsbl: DnsblEngine;
}

export function createDnsChecks(opts: DnsChecksOptions): DnsChecks {
  const dnsbl = createDnsblEngine({ resolver: opts.resolver, lists: opts.dnsbl ?? {}, log: opts.log.child({ component: 'dnsbl' }), clock: opts.clock, ...(opts.registry ? { registry: opts.registry } : {}), ...(opts.dnsblHealth ? { health: opts.dnsblHealth } : {}) });
  const registry = opts.registry ? { registry: opts.registry } : {};
  const checks: Check[] = [
    createFcrdnsCheck(opts.resolver),
    createHeloCheck({ hostnames: [opts.hostname], localAddresses: opts.localAddresses ?? [] }),
    ...createSpfChecks({ resolver: opts.resolver, hostname: opts.hostname, ...registry }),
    createSenderDomainCheck(opts.resolver),
    ...createDnsblChecks(dnsbl, opts.dnsbl ?? {}),
    ...createUriblChecks({ engine: dnsbl, resolver: opts.resolver, section: opts.dnsbl ?? {}, settings: uriblSettings(opts.uribl), limits: opts.mimeLimits ?? DEFAULT_MIME_LIMITS, ...(opts.localDomains ? { localDomains: opts.localDomains } : {}) }),
    createAuthCheck({ resolver: opts.resolver, hostname: opts.hostname, ...registry, ...(opts.trustedSealers ? { trustedSealers: opts.trustedSealers } : {}) }),
  ];
  return { checks, dnsbl };
}
