// OpenMetrics 1.0 exposition of a registry, written from its values. prom-client's own OpenMetrics
// output renames counters in place (drops `_total` from the metric objects), which would corrupt the
// Prometheus text format of the same registry afterwards; this serializer reads and never mutates.
import type { Registry } from 'prom-client';

export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

/** OpenMetrics §"Escaping": backslash, double quote and line feed in label values and HELP. */
function escape(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function number(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function labelSet(labels: Record<string, string | number | undefined>): string {
  const parts = Object.entries(labels)
    .filter((e): e is [string, string | number] => e[1] !== undefined)
    .map(([k, v]) => `${k}="${escape(String(v))}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

export async function openMetrics(registry: Registry): Promise<string> {
  const lines: string[] = [];
  for (const metric of await registry.getMetricsAsJSON()) {
    const type = String(metric.type);
    // A counter family is named without its `_total` sample suffix.
    const family = type === 'counter' ? metric.name.replace(/_total$/, '') : metric.name;
    lines.push(`# HELP ${family} ${escape(metric.help)}`, `# TYPE ${family} ${type}`);
    for (const v of metric.values as Array<{ value: number; labels: Record<string, string | number | undefined>; metricName?: string }>) {
      const name = type === 'counter' ? `${family}_total` : (v.metricName ?? metric.name);
      lines.push(`${name}${labelSet(v.labels)} ${number(v.value)}`);
    }
  }
  lines.push('# EOF', '');
  return lines.join('\n');
}
