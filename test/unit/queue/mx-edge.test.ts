// MX delivery edge cases over real sockets on loopback: IP-literal and self MX hosts, bounded
// hosts and addresses, malformed and hostile DNS answers, 452 recipient limits, per-domain
// grouping with bounded fan-out, and failure notices that the spool will not take at first.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { configSchema } from '../../../src/config/schema.ts';
import { createResolver } from '../../../src/dns/dns2-resolver.ts';
import { createOutbound, MAX_ADDRESSES_PER_HOST, MAX_CONNECTION_ATTEMPTS, planMx, type OutboundOptions } from '../../../src/mailhost/outbound.ts';
import { selfAddressCheck } from '../../../src/mailhost/self-address.ts';
import { createFullStackRouter, MAX_PARALLEL_DOMAINS, type RecipientOutcome } from '../../../src/queue/router.ts';
import type { Spool } from '../../../src/queue/spool.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { startDnsServer, type Zones } from '../../helpers/dns-server.ts';
import { startSink } from '../../helpers/sink-server.ts';
import { envelope, message, queueRig } from './helpers.ts';

async function outboundRig(t: TestContext, zones: Zones, port: number, over: Record<string, unknown> = {}, extra: Partial<OutboundOptions> = {}) {
  const dns = await startDnsServer(zones);
  t.after(() => dns.close());
  const resolver = createResolver({ servers: [dns.server], timeoutMs: 500, retries: 0 });
  const config = configSchema.parse({ outbound: { port, connect_timeout: '2s', command_timeout: '5s', ...over } }).outbound;
  const out = createOutbound({ resolver, config, hostname: 'gw.test', log: silentLogger, random: () => 0.5, ...extra });
  t.after(() => out.close());
  return { dns, resolver, out };
}

/** Plain TCP listeners on several loopback addresses, one port, that greet 421 and count connections. */
async function busyListeners(t: TestContext, hosts: string[]): Promise<{ port: number; connections: () => number }> {
  let count = 0;
  const listen = (host: string, port: number): Promise<net.Server> =>
    new Promise((resolve, reject) => {
      const server = net.createServer((s) => {
        count++;
        s.end('421 4.3.2 busy\r\n');
      });
      server.once('error', reject);
      server.listen(port, host, () => resolve(server));
    });
  // Bounded: a port taken on one of the addresses (a parallel test) means another try on a new port.
  for (let attempt = 0; attempt < 5; attempt++) {
    const servers: net.Server[] = [];
    try {
      for (const host of hosts) servers.push(await listen(host, servers.length ? (servers[0]?.address() as net.AddressInfo).port : 0));
    } catch {
      await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
      continue;
    }
    t.after(() => Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r())))));
    return { port: (servers[0]?.address() as net.AddressInfo).port, connections: () => count };
  }
  throw new Error('no port free on every address');
}

test('an MX that is an IP literal is not used (RFC 5321 §5.1: the exchange is a domain name)', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const { out } = await outboundRig(t, { 'lit.test': [{ MX: [10, '127.0.0.1'] }] }, sink.port);
  const res = await out.deliver('s@o.test', 'lit.test', ['x@lit.test'], message('literal'));
  assert.equal(res.get('x@lit.test')?.status, 'temp');
  assert.equal(sink.messages.length, 0);
});

test('our own name as the best MX bounces with 5.4.6; a better MX is still used', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const { out } = await outboundRig(
    t,
    {
      'loop.test': [{ MX: [10, 'gw.test'] }, { MX: [20, 'backup.loop.test'] }],
      'backup.loop.test': [{ A: '127.0.0.1' }],
      'gw.test': [{ A: '127.0.0.1' }],
      'ok.test': [{ MX: [5, 'mx.ok.test'] }, { MX: [10, 'GW.test.'] }],
      'mx.ok.test': [{ A: '127.0.0.1' }],
    },
    sink.port,
  );
  const loop = await out.deliver('s@o.test', 'loop.test', ['x@loop.test'], message('loop'));
  assert.equal(loop.get('x@loop.test')?.status, 'perm');
  assert.equal(loop.get('x@loop.test')?.reply.enhanced, '5.4.6');
  assert.equal(sink.messages.length, 0, 'neither we nor the lower-preference backup were tried');
  const ok = await out.deliver('s@o.test', 'ok.test', ['x@ok.test'], message('ok'));
  assert.equal(ok.get('x@ok.test')?.status, 'delivered');
  assert.equal(ok.get('x@ok.test')?.remoteMta, 'mx.ok.test');
});

test('an MX whose address is this server (listener address and port) is a loop', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const isSelfAddress = selfAddressCheck([{ host: '127.0.0.1', port: sink.port }]);
  const { out } = await outboundRig(t, { 'me.test': [{ MX: [10, 'mx.me.test'] }], 'mx.me.test': [{ A: '127.0.0.1' }], 'implicit.test': [{ A: '127.0.0.1' }] }, sink.port, {}, { isSelfAddress });
  const res = await out.deliver('s@o.test', 'me.test', ['x@me.test'], message('self'));
  assert.equal(res.get('x@me.test')?.reply.enhanced, '5.4.6');
  const imp = await out.deliver('s@o.test', 'implicit.test', ['x@implicit.test'], message('self2'));
  assert.equal(imp.get('x@implicit.test')?.status, 'perm');
  assert.equal(sink.messages.length, 0);
  assert.equal(selfAddressCheck([{ host: '0.0.0.0', port: 25 }])('127.0.0.7', 25), true, 'a wildcard listener is reached on 127/8');
  assert.equal(selfAddressCheck([{ host: '0.0.0.0', port: 0 }])('127.0.0.1', 25), false, 'an ephemeral port is never matched');
});

test('many MX hosts and many addresses: connection attempts are bounded', async (t) => {
  const hosts = Array.from({ length: 12 }, (_v, i) => `127.0.0.${20 + i}`);
  const busy = await busyListeners(t, hosts);
  const zones: Zones = { 'wide.test': [{ MX: [10, 'one.wide.test'] }], 'one.wide.test': hosts.map((h) => ({ A: h })), 'many.test': [] };
  const many = zones['many.test'] as { MX: [number, string] }[];
  for (let i = 0; i < 40; i++) {
    many.push({ MX: [i, `mx${i}.many.test`] });
    zones[`mx${i}.many.test`] = [{ A: hosts[i % hosts.length] as string }, { A: hosts[(i + 1) % hosts.length] as string }];
  }
  const { out } = await outboundRig(t, zones, busy.port, { max_mx_hosts: 40 });
  const wide = await out.deliver('s@o.test', 'wide.test', ['x@wide.test'], message('wide'));
  assert.equal(wide.get('x@wide.test')?.status, 'temp');
  assert.ok(busy.connections() >= 2 && busy.connections() <= MAX_ADDRESSES_PER_HOST, `tried ${busy.connections()} addresses of one host`);
  const before = busy.connections();
  const res = await out.deliver('s@o.test', 'many.test', ['x@many.test'], message('many'));
  assert.equal(res.get('x@many.test')?.status, 'temp');
  assert.ok(busy.connections() - before <= MAX_CONNECTION_ATTEMPTS, `made ${busy.connections() - before} connections`);
});

/** A UDP name server answering every question with bytes built by `answer` from the query. */
async function rawDns(t: TestContext, answer: (query: Buffer) => Buffer): Promise<string> {
  const socket = createSocket('udp4');
  socket.on('message', (msg, rinfo) => socket.send(answer(msg), rinfo.port, rinfo.address));
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => socket.close(() => r())));
  return `127.0.0.1:${socket.address().port}`;
}

/** Header (id copied, QR RD RA, one question, ancount) + the question copied from the query + `rest`. */
function reply(query: Buffer, ancount: number, rest: Buffer): Buffer {
  const header = Buffer.from(query.subarray(0, 12));
  header.writeUInt16BE(0x8180, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(ancount, 6);
  header.writeUInt16BE(0, 8);
  header.writeUInt16BE(0, 10);
  // The resolver's queries carry one question and nothing else.
  return Buffer.concat([header, query.subarray(12), rest]);
}

test('a malformed MX answer is a temporary error, never "no MX" (which would mean the implicit MX)', async (t) => {
  // One MX record whose RDATA ends inside the exchange name: dns2 drops the record and notes the error.
  const server = await rawDns(t, (q) => reply(q, 1, Buffer.from([0xc0, 0x0c, 0x00, 0x0f, 0x00, 0x01, 0, 0, 1, 0x2c, 0x00, 0x03, 0x00, 0x0a, 0x05])));
  const resolver = createResolver({ servers: [server], timeoutMs: 500, retries: 0 });
  const mx = await resolver.lookup('broken-rdata.test', 'MX');
  assert.equal(mx.status, 'temperror');
  const plan = await planMx(resolver, 'broken-rdata.test');
  assert.equal(plan.kind === 'fail' && plan.status, 'temp');
});

test('a compression-pointer loop in an answer ends at once as a temperror', async (t) => {
  // The answer's owner name is a pointer to itself (offset of the answer section).
  const server = await rawDns(t, (q) => {
    const base = reply(q, 1, Buffer.alloc(0));
    const at = base.length;
    return Buffer.concat([base, Buffer.from([0xc0 | (at >> 8), at & 0xff, 0x00, 0x01, 0x00, 0x01, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1])]);
  });
  const resolver = createResolver({ servers: [server], timeoutMs: 500, retries: 0 });
  assert.equal((await resolver.lookup('loop-ptr.test', 'A')).status, 'temperror');
  assert.equal((await resolver.lookup('loop-ptr.test', 'MX')).status, 'temperror');
});

test('an answer claiming more records than it holds is a temperror', async (t) => {
  const server = await rawDns(t, (q) => reply(q, 40, Buffer.from([0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1])));
  const resolver = createResolver({ servers: [server], timeoutMs: 500, retries: 0 });
  assert.equal((await resolver.lookup('short.test', 'A')).status, 'temperror');
});

test('452 for some recipients after others were taken: the rest go in a new transaction to the same host', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  sink.rule({ stage: 'rcpt', rcpt: 'c@lim.test', code: 452, text: '4.5.3 too many recipients', times: 1 });
  sink.rule({ stage: 'rcpt', rcpt: 'd@lim.test', code: 452, text: '4.5.3 too many recipients', times: 1 });
  sink.rule({ stage: 'rcpt', rcpt: 'e@lim.test', code: 451, text: '4.7.1 greylisted' });
  const { out } = await outboundRig(t, { 'lim.test': [{ MX: [10, 'mx.lim.test'] }], 'mx.lim.test': [{ A: '127.0.0.1' }] }, sink.port);
  const rcpts = ['a@lim.test', 'b@lim.test', 'c@lim.test', 'd@lim.test', 'e@lim.test'];
  const res = await out.deliver('s@o.test', 'lim.test', rcpts, message('limit'));
  for (const r of rcpts.slice(0, 4)) assert.equal(res.get(r)?.status, 'delivered', r);
  assert.equal(res.get('e@lim.test')?.status, 'temp');
  assert.deepEqual(sink.messages.map((m) => m.rcptTo), [['a@lim.test', 'b@lim.test'], ['c@lim.test', 'd@lim.test']]);
});

test('a message to many domains: one delivery per domain, a bounded number at once', async () => {
  let inFlight = 0;
  let peak = 0;
  const calls: { domain: string; rcpts: string[] }[] = [];
  const router = createFullStackRouter({
    isLocal: () => false,
    deliverLocal: async () => ({ status: 'ok' }),
    outbound: {
      async deliver(_from, domain, rcpts) {
        calls.push({ domain, rcpts });
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise<void>((r) => setImmediate(r));
        inFlight--;
        if (domain === 'd7.test') throw new Error('boom');
        return new Map<string, RecipientOutcome>(rcpts.map((r) => [r, { status: 'delivered', reply: { code: 250, text: 'ok' }, destination: 'remote' }]));
      },
      close: async () => undefined,
    },
  });
  const recipients: string[] = [];
  for (let d = 0; d < 50; d++) recipients.push(`a@d${d}.test`, `b@D${d}.test`);
  const res = await router.route({ id: 'q1', envelope: envelope({ rcptTo: recipients }), recipients, message: message('fanout') });
  assert.equal(calls.length, 50);
  assert.ok(calls.every((c) => c.rcpts.length === 2), 'recipients grouped per domain, case-insensitively');
  assert.ok(peak <= MAX_PARALLEL_DOMAINS, `peak ${peak}`);
  assert.equal(res.size, 100);
  assert.equal(res.get('a@d7.test')?.status, 'temp');
});

test('a failure notice the spool refuses is retried later, and the message is kept until it is queued', async (t) => {
  let refuse = 1;
  const rig = await queueRig(t, {
    wrapSpool: (spool): Spool => ({
      ...spool,
      enqueue: async (env, msg) => {
        if (env.mailFrom === '' && refuse-- > 0) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
        return spool.enqueue(env, msg);
      },
    }),
  });
  rig.sink.rule({ stage: 'rcpt', rcpt: 'rcpt@dest.test', code: 550, text: '5.1.1 no such user' });
  await rig.spool.enqueue(envelope(), message('refused-notice'));
  await rig.scheduler.runDue();
  assert.equal(refuse, 0, 'the notice was tried');
  assert.equal(rig.scheduler.size(), 1, 'the message stays while its notice is owed');
  await rig.scheduler.runDue();
  assert.equal(rig.sink.messages.length, 0, 'backed off: not retried on the next scan');
  rig.clock.advance(60_000);
  await rig.scheduler.runDue();
  const bounce = rig.sink.messages.find((m) => m.mailFrom === '');
  assert.ok(bounce, 'the bounce went out after all');
  assert.deepEqual(bounce.rcptTo, ['sender@origin.test']);
  assert.match(bounce.raw.toString(), /Status: 5\.1\.1/);
  assert.equal(rig.scheduler.size(), 0);
  assert.equal(rig.sink.messages.filter((m) => m.mailFrom !== '').length, 0, 'the original was never sent again');
});

test('MX via CNAME is followed; an MX host without address never falls back to the domain A record; a DNS timeout is temporary', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const { out } = await outboundRig(
    t,
    {
      'cn.test': [{ MX: [10, 'alias.cn.test'] }],
      'alias.cn.test': [{ CNAME: 'real.cn.test' }],
      'real.cn.test': [{ A: '127.0.0.1' }],
      'noaddr.test': [{ MX: [10, 'ghost.noaddr.test'] }, { A: '127.0.0.1' }],
      'slow.test': 'TIMEOUT',
    },
    sink.port,
  );
  const cn = await out.deliver('s@o.test', 'cn.test', ['x@cn.test'], message('cname'));
  assert.equal(cn.get('x@cn.test')?.status, 'delivered');
  const ghost = await out.deliver('s@o.test', 'noaddr.test', ['x@noaddr.test'], message('ghost'));
  // the domain's own A record is not used; an MX host that does not exist fails at once (as Postfix: 5.4.4)
  assert.deepEqual([ghost.get('x@noaddr.test')?.status, ghost.get('x@noaddr.test')?.reply.enhanced], ['perm', '5.4.4']);
  const slow = await out.deliver('s@o.test', 'slow.test', ['x@slow.test'], message('slow'));
  assert.equal(slow.get('x@slow.test')?.status, 'temp');
  assert.equal(slow.get('x@slow.test')?.reply.enhanced, '4.4.3');
  assert.equal(sink.messages.length, 1, 'only the CNAME case was delivered');
});

test('a truncated UDP answer whose TCP retry is refused is a temperror, not an empty answer', async (t) => {
  // TC set, no records; nothing listens on TCP at that port.
  const server = await rawDns(t, (q) => {
    const r = reply(q, 0, Buffer.alloc(0));
    r.writeUInt16BE(0x8380, 2);
    return r;
  });
  const resolver = createResolver({ servers: [server], timeoutMs: 500, retries: 0 });
  const mx = await resolver.lookup('truncated.test', 'MX');
  assert.equal(mx.status, 'temperror');
  const plan = await planMx(resolver, 'truncated.test');
  assert.equal(plan.kind === 'fail' && plan.status, 'temp');
});
