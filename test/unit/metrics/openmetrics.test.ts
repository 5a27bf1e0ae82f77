// OpenMetrics serialization of an app registry: counter families without _total, samples with it,
// histograms, escaping, +Inf, # EOF; and the text format of the same registry stays intact.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openMetrics } from '../../../src/metrics/openmetrics.ts';
import { counter, createRegistry, gauge, histogram } from '../../../src/metrics/registry.ts';

test('OpenMetrics: families, samples, escaping and # EOF; text format untouched afterwards', async () => {
  const registry = createRegistry(false);
  counter(registry, 'spamgate_test_things_total', 'Things "counted"\\n by kind', ['kind']).inc({ kind: 'a"b' }, 2);
  gauge(registry, 'spamgate_test_level', 'A level').set(-1.5);
  histogram(registry, 'spamgate_test_seconds', 'Durations', [], [0.1, 1]).observe(0.5);
  const om = await openMetrics(registry);
  assert.match(om, /^# HELP spamgate_test_things Things \\"counted\\"\\\\n by kind$/m);
  assert.match(om, /^# TYPE spamgate_test_things counter$/m);
  assert.match(om, /^spamgate_test_things_total\{kind="a\\"b"\} 2$/m);
  assert.match(om, /^# TYPE spamgate_test_level gauge$/m);
  assert.match(om, /^spamgate_test_level -1\.5$/m);
  assert.match(om, /^spamgate_test_seconds_bucket\{le="0\.1"\} 0$/m);
  assert.match(om, /^spamgate_test_seconds_bucket\{le="\+Inf"\} 1$/m);
  assert.match(om, /^spamgate_test_seconds_sum 0\.5$/m);
  assert.match(om, /^spamgate_test_seconds_count 1$/m);
  assert.ok(om.endsWith('# EOF\n'));

  const text = await registry.metrics();
  assert.match(text, /^# TYPE spamgate_test_things_total counter$/m, 'the registry still names the counter with _total');
  assert.match(text, /^spamgate_test_things_total\{kind="a\\"b"\} 2$/m);
  assert.equal((await registry.getSingleMetric('spamgate_test_things_total')?.get())?.name, 'spamgate_test_things_total');
});

test('OpenMetrics of a registry with process metrics parses line by line', async () => {
  const om = await openMetrics(createRegistry());
  for (const line of om.trimEnd().split('\n')) {
    assert.match(line, /^(?:# (?:HELP|TYPE) spamgate_[a-z0-9_]+ .*|spamgate_[a-z0-9_]+(?:\{.*\})? (?:[-+]?[0-9.e+-]+|NaN|[+-]Inf)|# EOF)$/, line);
  }
});
