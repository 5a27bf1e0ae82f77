// The queue's metrics on the app registry: depth, oldest age, delivery attempts and bounces.
import type { Registry } from 'prom-client';
import { counter, gauge } from '../metrics/registry.ts';

export function createQueueMetrics(registry: Registry) {
  const attempts = counter(registry, 'spamgate_delivery_attempts_total', 'Per-recipient delivery attempts by result (delivered, deferred, failed) and destination (upstream, local, remote).', ['result', 'destination'] as const);
  // every series from the start, at 0: an alert on their rate must see "no attempts" before the first one
  for (const result of ['delivered', 'deferred', 'failed']) for (const destination of ['upstream', 'local', 'remote']) attempts.inc({ result, destination }, 0);
  return {
    depth: gauge(registry, 'spamgate_queue_depth', 'Messages in the delivery queue.'),
    oldest: gauge(registry, 'spamgate_queue_oldest_age_seconds', 'Age of the oldest queued message not on hold.'),
    held: gauge(registry, 'spamgate_queue_held', 'Queued messages on hold (spamgate queue hold): not delivered until released.'),
    due: gauge(registry, 'spamgate_queue_due', 'Queued messages whose next attempt time has come (not in flight); counted at each scan.'),
    attempts,
    bounces: counter(registry, 'spamgate_bounces_total', 'Delivery status notifications queued, by kind (failure, delay, success).', ['kind'] as const),
  };
}
