// Gateway metrics on an app registry: refusals carry the symbol family as a bounded label.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRegistry } from '../../../src/metrics/registry.ts';
import { createGatewayMetrics, symbolFamily } from '../../../src/smtp/gateway-metrics.ts';

test('rejects are counted by phase, family and symbol; built twice, the metrics are shared', async () => {
  const registry = createRegistry(false);
  createGatewayMetrics(registry).rejects.inc({ phase: 'rcpt', symbol: 'RELAY_DENIED' });
  createGatewayMetrics(registry).rejects.inc({ phase: 'data', symbol: 'SCORE' });
  const text = await registry.metrics();
  assert.match(text, /^spamgate_smtp_rejects_total\{phase="rcpt",family="RELAY",symbol="RELAY_DENIED"\} 1$/m);
  assert.match(text, /^spamgate_smtp_rejects_total\{phase="data",family="SCORE",symbol="SCORE"\} 1$/m);
  assert.equal(symbolFamily('DNSBL_ZEN_XBL'), 'DNSBL');
});

test('createRegistry: process metrics prefixed, no gauge named like a counter', async () => {
  const text = await createRegistry().metrics();
  assert.match(text, /^# TYPE spamgate_process_cpu_seconds_total counter$/m);
  assert.match(text, /^# TYPE spamgate_nodejs_active_handles gauge$/m);
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) if (m[2] !== 'counter') assert.doesNotMatch(m[1] as string, /_total$/, m[1]);
});
