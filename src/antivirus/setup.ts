// Builds the antivirus check for a config snapshot (one scanner, and so one set of max_concurrent slots, while the
// antivirus settings stay the same across reloads, failed ones included) and probes clamd at start: PING → PONG, or
// a warning naming the address (spamgate starts anyway; clamd may come up later, until then mail goes per on_error).
import { createAntivirusCheck } from '../checks/antivirus.ts';
import type { Check } from '../checks/types.ts';
import type { AntivirusConfig } from '../config/sections/antivirus.ts';
import type { Registry } from '../metrics/registry.ts';
import type { Logger } from '../util/logger.ts';
import { clamdPing } from './clamd-client.ts';
import { formatClamdAddress, parseClamdAddress, type ClamdAddress } from './clamd-protocol.ts';
import { createAntivirusMetrics, type AntivirusMetrics } from './metrics.ts';
import { VirusScanner } from './scanner.ts';
import { startDeadline } from '../util/deadline.ts';

/** Scanners kept for settings seen in reloads (each a few objects). */
const MAX_KEPT_SCANNERS = 4;

/** The start-up probe's own deadline (short of antivirus.timeout when that is longer). */
const PROBE_TIMEOUT_MS = 5000;

export interface Antivirus {
  /** The antivirus check of this config, or none when antivirus.enabled is false. */
  checks(config: AntivirusConfig): Check[];
  /** PING → PONG at start; resolves once logged, never rejects. */
  probe(config: AntivirusConfig): Promise<void>;
}

export function addressOf(config: AntivirusConfig): ClamdAddress {
  const a = parseClamdAddress(config.clamd);
  // the schema refused every address that does not parse
  if ('error' in a) throw new Error(`antivirus.clamd: ${a.error}`);
  return a;
}

export function createAntivirus(deps: { registry: Registry; log: Logger }): Antivirus {
  // registered at start, enabled or not: the dashboard's antivirus panel finds its series (at 0)
  const metrics: AntivirusMetrics = createAntivirusMetrics(deps.registry);
  // by settings, not only the last ones built: a reload that fails after building its checks (rules, keys, TLS
  // files) must not cost the running settings their scanner, or the next reload back to them opened a second set
  // of slots beside the one in use
  const scanners = new Map<string, VirusScanner>();
  const scannerFor = (config: AntivirusConfig): VirusScanner => {
    const key = JSON.stringify([config.clamd, config.timeout, config.max_size, config.max_concurrent]);
    const known = scanners.get(key);
    scanners.delete(key);
    const scanner = known ?? new VirusScanner({ address: addressOf(config), timeoutMs: config.timeout, maxSize: config.max_size, maxConcurrent: config.max_concurrent }, metrics);
    // most recently built last; beyond a few, the oldest idle ones go (a scanner in use is kept: its slots are held)
    scanners.set(key, scanner);
    for (const [k, s] of scanners) {
      if (scanners.size <= MAX_KEPT_SCANNERS) break;
      if (s !== scanner && s.idle) scanners.delete(k);
    }
    return scanner;
  };
  return {
    checks: (config) => (config.enabled ? [createAntivirusCheck({ scanner: scannerFor(config), config })] : []),
    probe: async (config) => {
      if (!config.enabled) return;
      const address = addressOf(config);
      const deadline = startDeadline(Math.min(PROBE_TIMEOUT_MS, config.timeout));
      const r = await clamdPing(address, deadline.signal).finally(() => deadline.clear());
      if (r.ok) deps.log.info('clamd answers', { clamd: formatClamdAddress(address) });
      else {
        deps.log.warn(`clamd at ${formatClamdAddress(address)} does not answer PING: mail is ${config.on_error === 'tempfail' ? 'deferred (451)' : 'accepted unscanned'} until it does`, { clamd: formatClamdAddress(address), error: r.error });
      }
    },
  };
}
