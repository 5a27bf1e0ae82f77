// Test tooling for the Grafana dashboard and Prometheus alert rules in grafana/: extracts their PromQL
// expressions, substitutes Grafana's variables, reduces alert conditions to the quantity they watch,
// lists the metric names an expression uses and finds hard-coded data sources.
import { parse } from 'yaml';

export interface Expression {
  /** Where it comes from: panel title and refId, annotation name or alert name. */
  where: string;
  expr: string;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isObject(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Every `expr` of the dashboard: panel targets (rows and nested panels included) and annotations. */
export function dashboardExpressions(dashboard: unknown): Expression[] {
  const out: Expression[] = [];
  const walk = (node: unknown, where: string): void => {
    if (Array.isArray(node)) {
      for (const n of node) walk(n, where);
      return;
    }
    if (!isObject(node)) return;
    const title = typeof node.title === 'string' ? node.title : typeof node.name === 'string' ? node.name : undefined;
    const here = title ? `${where}${where ? ' / ' : ''}${title}` : where;
    if (typeof node.expr === 'string' && node.expr.trim()) out.push({ where: `${here}${typeof node.refId === 'string' ? ` [${node.refId}]` : ''}`, expr: node.expr });
    for (const [k, v] of Object.entries(node)) if (k !== 'templating') walk(v, here);
  };
  walk(dashboard, '');
  return out;
}

/** Every alerting and recording rule expression of a Prometheus rules file. */
export function alertExpressions(rulesYaml: string): Expression[] {
  const doc = parse(rulesYaml) as { groups?: Array<{ name: string; rules?: Array<{ alert?: string; record?: string; expr: string }> }> };
  return (doc.groups ?? []).flatMap((g) => (g.rules ?? []).map((r) => ({ where: `${g.name} / ${r.alert ?? r.record ?? '?'}`, expr: r.expr.trim() })));
}

/**
 * Grafana's variables as a query sees them: all instances, a one-minute rate window (enough for a
 * 1 s scrape interval), a five-minute dashboard range.
 */
export function substituteGrafanaVariables(expr: string): string {
  return expr
    .replace(/\$__rate_interval|\$\{__rate_interval\}/g, '1m')
    .replace(/\$__interval|\$\{__interval\}/g, '15s')
    .replace(/\$__range|\$\{__range\}/g, '5m')
    .replace(/\$\{instance(?::[a-z]+)?\}|\$instance\b/g, '.*');
}

/**
 * The quantity an alert condition watches: every comparison with a number literal removed
 * that ends an operand (`a > 0.5 and b == 0` → `a and b`). Comparisons with vectors (`a > 3 * b`) are kept. Label matchers
 * (`{result!="x"}`) are untouched: their operand is a string.
 */
export function withoutComparisons(expr: string): string {
  return expr.replace(/\s*(?:==|!=|>=|<=|>|<)\s*(?:bool\s+)?[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?(?=\s*(?:$|\)|\b(?:and|or|unless)\b))/g, '');
}

/** spamgate_* metric family names an expression uses (histogram series suffixes removed; strings ignored). */
export function metricNames(expr: string): string[] {
  const code = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const names = new Set<string>();
  for (const m of code.matchAll(/\bspamgate_[a-z0-9_]+/g)) names.add(m[0].replace(/_(?:bucket|sum|count)$/, ''));
  return [...names].sort();
}

const DATASOURCE_VARIABLE = /^\$\{?(?:datasource|DS_PROMETHEUS)\}?$/;

/**
 * What keeps the dashboard from being portable: a `datasource` that is not the variable, a missing
 * `datasource` variable of type datasource, or a missing `instance` variable over spamgate's series.
 */
export function datasourceProblems(dashboard: unknown): string[] {
  const problems: string[] = [];
  const walk = (node: unknown, where: string): void => {
    if (Array.isArray(node)) {
      node.forEach((n, i) => walk(n, `${where}[${i}]`));
      return;
    }
    if (!isObject(node)) return;
    for (const [k, v] of Object.entries(node)) {
      if (k === 'datasource') {
        const uid = isObject(v) ? v.uid : v;
        if (typeof uid !== 'string' || !DATASOURCE_VARIABLE.test(uid)) problems.push(`${where}.datasource is hard-coded: ${JSON.stringify(v)}`);
      } else walk(v, `${where}.${k}`);
    }
  };
  walk(dashboard, '$');
  const vars = isObject(dashboard) && isObject(dashboard.templating) && Array.isArray(dashboard.templating.list) ? dashboard.templating.list.filter(isObject) : [];
  const ds = vars.find((v) => v.name === 'datasource');
  if (!ds || ds.type !== 'datasource' || ds.query !== 'prometheus') problems.push('no templating variable "datasource" of type datasource (query prometheus)');
  const instance = vars.find((v) => v.name === 'instance');
  const query = instance && isObject(instance.query) ? instance.query.query : instance?.query;
  if (!instance || typeof query !== 'string' || !/^label_values\(spamgate_[a-z0-9_]+(\{[^}]*\})?,\s*instance\)$/.test(query)) {
    problems.push('no templating variable "instance" with label_values(spamgate_…, instance)');
  }
  return problems;
}
