// Antivirus check (data phase): the message as received goes to clamd (antivirus/scanner.ts). A virus is
// VIRUS_FOUND with its name as option (rules/antivirus.yaml: reject, or quarantine); clamd down, slow or garbled is
// AV_UNAVAILABLE (deferred) or, with antivirus.on_error accept, AV_ERROR (weight 0, logged); a message over
// antivirus.max_size is AV_SKIPPED_SIZE. Inbound mail always; outgoing (authenticated, trusted) with scan_outbound.
import type { AntivirusConfig } from '../config/sections/antivirus.ts';
import type { VirusScanner } from '../antivirus/scanner.ts';
import { formatClamdAddress } from '../antivirus/clamd-protocol.ts';
import type { Check, SymbolHit } from './types.ts';

export const ANTIVIRUS_SYMBOLS = ['VIRUS_FOUND', 'AV_UNAVAILABLE', 'AV_ERROR', 'AV_SKIPPED_SIZE'] as const;

/** Key in ctx.results: the scan's outcome (ScanOutcome). */
export const ANTIVIRUS_RESULT_KEY = 'antivirus';

/** Past antivirus.timeout, the time the check keeps to hand back its own AV_* result before the runner's budget ends. */
const CHECK_GRACE_MS = 2000;

export function createAntivirusCheck(deps: { scanner: VirusScanner; config: AntivirusConfig }): Check {
  const { scanner, config } = deps;
  const address = formatClamdAddress(scanner.settings.address);
  return {
    name: 'antivirus',
    phase: 'data',
    symbols: ANTIVIRUS_SYMBOLS,
    // the scan has its own timeout; the budget only backs it up, so a slow clamd is AV_* and never CHECK_TIMEOUT
    timeoutMs: config.timeout + CHECK_GRACE_MS,
    // outgoing mail (trusted networks, authenticated users) is scanned too unless scan_outbound is off
    skipTrusted: !config.scan_outbound,
    outbound: config.scan_outbound,
    async run(ctx): Promise<SymbolHit[]> {
      const view = ctx.message;
      if (!view) return [];
      const outcome = await scanner.scan(view.raw, ctx.signal);
      ctx.results.set(ANTIVIRUS_RESULT_KEY, outcome);
      switch (outcome.result) {
        case 'clean':
          return [];
        case 'virus':
          ctx.log.info('virus found', { virus: outcome.name });
          return [{ symbol: 'VIRUS_FOUND', options: [outcome.name] }];
        case 'skipped':
          return [{ symbol: 'AV_SKIPPED_SIZE', options: [`size=${outcome.size}`, `max=${outcome.maxSize}`] }];
        case 'error':
          if (config.on_error === 'accept') {
            ctx.log.warn('virus scan failed, message accepted unscanned (antivirus.on_error accept)', { clamd: address, error: outcome.reason });
            return [{ symbol: 'AV_ERROR', options: [outcome.reason] }];
          }
          ctx.log.warn('virus scan failed, message deferred', { clamd: address, error: outcome.reason });
          return [{ symbol: 'AV_UNAVAILABLE', options: [outcome.reason] }];
      }
    },
  };
}
