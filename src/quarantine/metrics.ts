// The quarantine's metrics: what it holds now and what happened to the messages it took.
import { counter, gauge, type Registry } from '../metrics/registry.ts';

export const QUARANTINE_RESULTS = ['stored', 'withdrawn', 'released', 'deleted', 'expired'] as const;

export function createQuarantineMetrics(registry: Registry) {
  const total = counter(registry, 'spamgate_quarantine_total', 'Quarantined messages by result: stored, withdrawn (stored, but its transaction then failed and was not acknowledged), released (to the queue), deleted (by a person), expired (quarantine.max_age or max_size).', ['result']);
  // every series from the start, so increase() sees the first one
  for (const result of QUARANTINE_RESULTS) total.inc({ result }, 0);
  return {
    total,
    messages: gauge(registry, 'spamgate_quarantine_messages', 'Messages in the quarantine.'),
    bytes: gauge(registry, 'spamgate_quarantine_bytes', 'Bytes of the messages in the quarantine (files on disk).'),
  };
}
