// One prom-client registry per app (never the global default); components register their own metrics on it.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export { Counter, Gauge, Histogram, Registry };

export function createRegistry(withProcessMetrics = true): Registry {
  const registry = new Registry();
  if (withProcessMetrics) {
    collectDefaultMetrics({ register: registry, prefix: 'spamgate_' });
    // prom-client's nodejs_active_{handles,requests,resources}_total are gauges named like counters
    // (promtool rejects them); the same totals are sum() of the per-type gauges kept beside them.
    for (const kind of ['handles', 'requests', 'resources']) registry.removeSingleMetric(`spamgate_nodejs_active_${kind}_total`);
  }
  return registry;
}

/** Returns the metric of that name already on the registry, or makes it: components built twice share it. */
export function counter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<L>;
  return new Counter({ name, help, labelNames, registers: [registry] });
}

export function gauge<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Gauge<L>;
  return new Gauge({ name, help, labelNames, registers: [registry] });
}

export function histogram<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[] = [],
  buckets: number[] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
): Histogram<L> {
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Histogram<L>;
  return new Histogram({ name, help, labelNames, buckets, registers: [registry] });
}
