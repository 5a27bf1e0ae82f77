// The queue's metrics on the app registry: depth, oldest age, delivery attempts and bounces.
import type { Registry } from 'prom-client';
import { counter, gauge } from '../metrics/registry.ts';

export function createQueueMetrics(registry: Registry) {
  return {
    depth: gauge(registry, 'spamgate_queue_depth', 'Messages in the delivery queue.'),
    oldest: gauge(registry, 'spamgate_queue_oldest_age_seconds', 'Age of the oldest queued message.'),
    attempts: counter(registry, 'spamgate_delivery_attempts_total', 'Per-recipient delivery attempts by result (delivered, deferred, failed) and destination (upstream, local, remote).', ['result', 'destination'] as const),
    bounces: counter(registry, 'spamgate_bounces_total', 'Delivery status notifications queued, by kind (failure, delay, success).', ['kind'] as const),
  };
}
