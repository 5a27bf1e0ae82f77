// The antivirus metrics: scans by result and how long each took (the wait for a slot included).
import { counter, histogram, type Registry } from '../metrics/registry.ts';

export const SCAN_RESULTS = ['clean', 'virus', 'error', 'skipped'] as const;
export type ScanResultLabel = (typeof SCAN_RESULTS)[number];

export function createAntivirusMetrics(registry: Registry) {
  const scans = counter(registry, 'spamgate_antivirus_scans_total', 'Messages given to the virus scanner (clamd) by result: clean, virus, error (clamd down, slow or garbled: deferred or accepted per antivirus.on_error), skipped (over antivirus.max_size)', ['result']);
  // every series from the start, so increase() sees the first virus
  for (const result of SCAN_RESULTS) scans.inc({ result }, 0);
  return {
    scans,
    seconds: histogram(registry, 'spamgate_antivirus_scan_duration_seconds', 'Time per virus scan, from asking for a scanner slot to the reply of clamd', [], [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]),
  };
}

export type AntivirusMetrics = ReturnType<typeof createAntivirusMetrics>;
