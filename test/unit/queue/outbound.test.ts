// MX delivery over a real DNS server (dns2 on loopback) and real sink SMTP servers: preference
// order, A fallback, null MX, next MX on failure or 4xx, opportunistic STARTTLS, connection reuse.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { configSchema } from '../../../src/config/schema.ts';
import { createResolver } from '../../../src/dns/dns2-resolver.ts';
import { createOutbound, orderMx, planMx } from '../../../src/mailhost/outbound.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { startDnsServer, type Zones } from '../../helpers/dns-server.ts';
import { startSink, type SinkOptions } from '../../helpers/sink-server.ts';
import { message, tempDir } from './helpers.ts';

async function rig(t: TestContext, zones: Zones, sinkOpts: SinkOptions = {}, outbound: Record<string, unknown> = {}) {
  const sink = await startSink(sinkOpts);
  t.after(() => sink.close());
  const dns = await startDnsServer(zones);
  t.after(() => dns.close());
  const resolver = createResolver({ servers: [dns.server], timeoutMs: 500, retries: 0 });
  const config = configSchema.parse({ outbound: { port: sink.port, connect_timeout: '2s', command_timeout: '5s', ...outbound } }).outbound;
  const out = createOutbound({ resolver, config, hostname: 'gw.test', log: silentLogger, random: () => 0.5 });
  t.after(() => out.close());
  return { sink, dns, out };
}

test('orderMx: by preference, equal preferences shuffled', () => {
  const recs = [
    { exchange: 'c.test', priority: 20 },
    { exchange: 'a.test', priority: 10 },
    { exchange: 'b.test.', priority: 10 },
  ];
  const seq = [0.9, 0.1, 0.5];
  let i = 0;
  assert.deepEqual(orderMx(recs, () => seq[i++ % 3] as number), ['a.test', 'b.test', 'c.test']);
  i = 0;
  const seq2 = [0.9, 0.5, 0.1];
  assert.deepEqual(orderMx(recs, () => seq2[i++ % 3] as number), ['b.test', 'a.test', 'c.test']);
});

test('lowest preference first; unreachable MX skipped for the next one', async (t) => {
  const { sink, out } = await rig(t, {
    'dest.test': [{ MX: [20, 'mx2.dest.test'] }, { MX: [10, 'mx1.dest.test'] }],
    'mx1.dest.test': [{ A: '127.0.0.2' }], // nothing listens there: connection refused
    'mx2.dest.test': [{ A: '127.0.0.1' }],
  });
  const res = await out.deliver('s@o.test', 'dest.test', ['a@dest.test', 'b@dest.test'], message('mx'));
  assert.equal(res.get('a@dest.test')?.status, 'delivered');
  assert.equal(res.get('a@dest.test')?.remoteMta, 'mx2.dest.test');
  assert.deepEqual(sink.messages[0]?.rcptTo, ['a@dest.test', 'b@dest.test']);
  assert.equal(sink.messages[0]?.helo, 'gw.test');
});

test('no MX: falls back to the A record (RFC 5321 §5.1)', async (t) => {
  const { sink, dns, out } = await rig(t, { 'plain.test': [{ A: '127.0.0.1' }] });
  const res = await out.deliver('s@o.test', 'plain.test', ['x@plain.test'], message('a-fallback'));
  assert.equal(res.get('x@plain.test')?.status, 'delivered');
  assert.equal(sink.messages.length, 1);
  assert.ok(dns.count('plain.test', 'MX') >= 1 && dns.count('plain.test', 'A') >= 1);
});

test('null MX fails at once with 556 5.1.10 (RFC 7505); nxdomain with 5.1.2', async (t) => {
  const { sink, out } = await rig(t, { 'nomail.test': [{ MX: [0, '.'] }, { A: '127.0.0.1' }] });
  const res = await out.deliver('s@o.test', 'nomail.test', ['x@nomail.test'], message('nullmx'));
  assert.equal(res.get('x@nomail.test')?.status, 'perm');
  assert.equal(res.get('x@nomail.test')?.reply.code, 556);
  assert.equal(res.get('x@nomail.test')?.reply.enhanced, '5.1.10');
  const nx = await out.deliver('s@o.test', 'missing.test', ['x@missing.test'], message('nx'));
  assert.equal(nx.get('x@missing.test')?.status, 'perm');
  assert.equal(nx.get('x@missing.test')?.reply.enhanced, '5.1.2');
  assert.equal(sink.messages.length, 0);
});

test('DNS trouble is temporary; an MX that gives 4xx hands the recipient to the next MX', async (t) => {
  const { sink, out } = await rig(t, {
    'dest.test': [{ MX: [10, 'mx1.dest.test'] }, { MX: [20, 'mx2.dest.test'] }],
    'mx1.dest.test': [{ A: '127.0.0.1' }],
    'mx2.dest.test': [{ A: '127.0.0.3' }],
    'broken.test': 'SERVFAIL',
  });
  const second = await startSink({ host: '127.0.0.3', port: sink.port });
  t.after(() => second.close());
  sink.rule({ stage: 'rcpt', rcpt: 'busy@dest.test', code: 451, text: '4.7.1 greylisted' });
  const res = await out.deliver('s@o.test', 'dest.test', ['ok@dest.test', 'busy@dest.test'], message('next'));
  assert.equal(res.get('ok@dest.test')?.remoteMta, 'mx1.dest.test');
  assert.equal(res.get('busy@dest.test')?.status, 'delivered');
  assert.equal(res.get('busy@dest.test')?.remoteMta, 'mx2.dest.test');
  assert.deepEqual(second.messages[0]?.rcptTo, ['busy@dest.test']);
  const broken = await out.deliver('s@o.test', 'broken.test', ['x@broken.test'], message('servfail'));
  assert.equal(broken.get('x@broken.test')?.status, 'temp');
  assert.equal(broken.get('x@broken.test')?.reply.enhanced, '4.4.3');
});

test('opportunistic STARTTLS with a self-signed certificate; one connection reused', async (t) => {
  const dir = await tempDir(t);
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=mx.tls.test'], { stdio: 'ignore' });
  const { sink, out } = await rig(t, { 'tls.test': [{ MX: [10, 'mx.tls.test'] }], 'mx.tls.test': [{ A: '127.0.0.1' }] }, { tls: { key: readFileSync(key), cert: readFileSync(cert) } });
  for (let i = 0; i < 3; i++) {
    const res = await out.deliver('s@o.test', 'tls.test', ['x@tls.test'], message(`tls${i}`));
    assert.equal(res.get('x@tls.test')?.status, 'delivered');
  }
  assert.equal(sink.messages.length, 3);
  assert.ok(sink.messages.every((m) => m.secure), 'delivered over TLS');
  assert.equal(sink.connectionCount, 1, 'one connection for three messages');
});

test('planMx sees the A fallback as implicit', async (t) => {
  const dns = await startDnsServer({ 'only-a.test': [{ A: '127.0.0.1' }] });
  t.after(() => dns.close());
  const resolver = createResolver({ servers: [dns.server], timeoutMs: 500, retries: 0 });
  assert.deepEqual(await planMx(resolver, 'only-a.test'), { kind: 'hosts', hosts: ['only-a.test'], implicit: true });
});
