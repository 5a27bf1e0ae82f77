// The dashboard/alert tooling the observability integration test relies on, and the static checks of
// grafana/ that need no Prometheus: portable data sources, exported metric names, rule syntax.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { alertExpressions, dashboardExpressions, datasourceProblems, metricNames, substituteGrafanaVariables, withoutComparisons } from '../../helpers/promql-tools.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');

test('withoutComparisons drops comparisons with numbers, keeps matchers and vector comparisons', () => {
  assert.equal(withoutComparisons('spamgate_dnsbl_list_up == 0'), 'spamgate_dnsbl_list_up');
  assert.equal(withoutComparisons('deriv(spamgate_queue_depth[15m]) > 0.1 and spamgate_queue_depth > 100'), 'deriv(spamgate_queue_depth[15m]) and spamgate_queue_depth');
  assert.equal(withoutComparisons('a{result!="delivered",x=~"1|2"} / b >= bool 1e-3'), 'a{result!="delivered",x=~"1|2"} / b');
  assert.equal(withoutComparisons('rate(a[5m]) > 3 * rate(a[1h])'), 'rate(a[5m]) > 3 * rate(a[1h])');
  assert.equal(withoutComparisons('histogram_quantile(0.95, x) / 1e9'), 'histogram_quantile(0.95, x) / 1e9');
});

test('metricNames strips histogram suffixes and ignores label values', () => {
  assert.deepEqual(metricNames('histogram_quantile(0.9, sum by (le) (rate(spamgate_scan_score_bucket{job="spamgate_x"}[1m]))) / spamgate_scan_score_count'), ['spamgate_scan_score']);
  assert.deepEqual(metricNames('up == 0'), []);
});

test('substituteGrafanaVariables fills the rate window, range and instance', () => {
  assert.equal(substituteGrafanaVariables('rate(x{instance=~"$instance"}[$__rate_interval]) + increase(x{instance=~"${instance}"}[$__range])'), 'rate(x{instance=~".*"}[1m]) + increase(x{instance=~".*"}[5m])');
});

test('datasourceProblems finds hard-coded data sources and missing variables', () => {
  const bad = { panels: [{ title: 'p', datasource: { type: 'prometheus', uid: 'P1809F7CD0C75ACF3' }, targets: [{ expr: 'up', datasource: 'Prometheus' }] }], templating: { list: [] } };
  const problems = datasourceProblems(bad);
  assert.equal(problems.length, 4, problems.join('\n'));
});

test('grafana/dashboards/spamgate.json: rows, datasource variable, one expression per target, only spamgate_ metrics', async () => {
  const dashboard = JSON.parse(await readFile(path.join(ROOT, 'grafana/dashboards/spamgate.json'), 'utf8')) as { panels: Array<{ type: string; title: string }>; uid: string };
  assert.deepEqual(datasourceProblems(dashboard), []);
  const rows = dashboard.panels.filter((p) => p.type === 'row').map((p) => p.title);
  for (const r of ['Traffic and actions', 'Why mail is rejected', 'Spam scores and checks', 'DNS and DNSBL health', 'Queue and delivery', 'Filter learning', 'Mailbox access']) assert.ok(rows.includes(r), `row ${r}`);
  const exprs = dashboardExpressions(dashboard);
  assert.ok(exprs.length >= 40);
  for (const { where, expr } of exprs) {
    assert.ok(metricNames(expr).length > 0, `${where} queries a spamgate_ metric`);
    assert.doesNotMatch(expr, /\[\d+[smh]\]/, `${where}: rate windows use $__rate_interval or $__range`);
  }
});

test('grafana/prometheus/alerts.yml: the alerts the runbook expects, each with severity and summary', async () => {
  const text = await readFile(path.join(ROOT, 'grafana/prometheus/alerts.yml'), 'utf8');
  const names = alertExpressions(text).map((e) => e.where.split(' / ')[1]);
  for (const n of ['SpamgateQueueGrowing', 'SpamgateQueueStuck', 'SpamgateQueueCorruptFiles', 'SpamgateDnsblListDead', 'SpamgateDnsblListErrors', 'SpamgateUpstreamDeliveriesFailing', 'SpamgateRejectRateSpike', 'SpamgateConfigReloadFailed', 'SpamgateRedisDown', 'SpamgateRedisErrors']) {
    assert.ok(names.includes(n), n);
  }
  assert.equal((text.match(/severity: /g) ?? []).length, names.length);
  assert.equal((text.match(/summary: /g) ?? []).length, names.length);
});
