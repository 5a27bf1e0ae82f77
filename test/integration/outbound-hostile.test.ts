// Outbound delivery and local delivery against hostile or broken peers, over real sockets on
// loopback: next hops that greet 554, drop mid-DATA, stall, or send odd multi-line replies; null MX
// and MX loops bounced once (and never a bounce of a bounce); a broken Maildir deferred, not lost;
// alias lattices expanded once, path tricks refused at RCPT; quota under concurrent deliveries.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { configSchema } from '../../src/config/schema.ts';
import { createResolver } from '../../src/dns/dns2-resolver.ts';
import { expandAddress, MAX_EXPANSION_VISITS } from '../../src/mailhost/aliases.ts';
import { createLocalDelivery } from '../../src/mailhost/local-delivery.ts';
import { checkUserName } from '../../src/mailhost/users.ts';
import { hashPassword } from '../../src/mailhost/password.ts';
import { createOutbound, type OutboundOptions } from '../../src/mailhost/outbound.ts';
import { createRegistry } from '../../src/metrics/registry.ts';
import { createMaildirStore } from '../../src/store/maildir-store.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { startDnsServer, type Zones } from '../helpers/dns-server.ts';
import { startGateway } from '../helpers/gateway.ts';
import { startSink } from '../helpers/sink-server.ts';
import { sendMessage } from '../helpers/smtp-wire.ts';

const MSG = Buffer.from('From: <s@o.test>\r\nSubject: hostile\r\n\r\nbody\r\n');

interface RawBehaviour {
  greeting?: string;
  ehlo?: string;
  /** Never answer this step. */
  stall?: 'ehlo' | 'data-end';
  /** Close the connection once some message data came in. */
  dropInData?: boolean;
  /** Send every reply one byte per write. */
  dribble?: boolean;
  /** Close the connection without a reply after the data of this message (1 = the first) came in. */
  dropAfterMessage?: number;
  /** A reply of its own to a command line (upper-cased), or undefined for the usual one. */
  reply?: (line: string) => string | undefined;
}

/** A scripted SMTP peer on host:port; counts the messages it took. */
async function rawSmtp(t: TestContext, b: RawBehaviour, host = '127.0.0.1', port = 0): Promise<{ port: number; taken: () => number; received: () => number }> {
  let taken = 0;
  let received = 0;
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    const send = (text: string): void => {
      if (!b.dribble) return void socket.write(text);
      for (const ch of text) socket.write(ch);
    };
    let buf = '';
    let inData = false;
    send(b.greeting ?? '220 raw.test ESMTP\r\n');
    socket.on('data', (chunk: Buffer) => {
      buf += chunk.toString('latin1');
      // Bounded by the input: each pass consumes one line or the data section.
      for (;;) {
        if (inData) {
          if (b.dropInData) return void socket.destroy();
          const end = buf.indexOf('\r\n.\r\n');
          if (end < 0) return;
          buf = buf.slice(end + 5);
          inData = false;
          if (++received === b.dropAfterMessage) return void socket.destroy();
          if (b.stall === 'data-end') return;
          taken++;
          send('250 2.0.0 taken\r\n');
          continue;
        }
        const nl = buf.indexOf('\r\n');
        if (nl < 0) return;
        const line = buf.slice(0, nl).toUpperCase();
        buf = buf.slice(nl + 2);
        const own = b.reply?.(line);
        if (own !== undefined) {
          if (own.startsWith('354')) inData = true;
          send(`${own}\r\n`);
        } else if (line.startsWith('EHLO')) {
          if (b.stall === 'ehlo') return;
          send(b.ehlo ?? '250 raw.test\r\n');
        } else if (line === 'DATA') {
          inData = true;
          send('354 go ahead\r\n');
        } else if (line === 'QUIT') {
          send('221 bye\r\n');
          socket.end();
        } else send('250 2.1.0 ok\r\n');
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.address() as net.AddressInfo).port, taken: () => taken, received: () => received };
}

async function outbound(t: TestContext, zones: Zones, port: number, over: Record<string, unknown> = {}, extra: Partial<OutboundOptions> = {}) {
  const dns = await startDnsServer(zones);
  t.after(() => dns.close());
  // generous where no test waits on them: a loaded machine answers late, not never
  const resolver = createResolver({ servers: [dns.server], timeoutMs: 2000, retries: 0 });
  const config = configSchema.parse({ outbound: { port, connect_timeout: '1s', command_timeout: '1s', starttls: 'never', ...over } }).outbound;
  const out = createOutbound({ resolver, config, hostname: 'gw.test', log: silentLogger, random: () => 0.5, ...extra });
  t.after(() => out.close());
  return out;
}

const TWO_MX: Zones = {
  'dest.test': [{ MX: [10, 'bad.dest.test'] }, { MX: [20, 'good.dest.test'] }],
  'bad.dest.test': [{ A: '127.0.0.6' }],
  'good.dest.test': [{ A: '127.0.0.1' }],
};

test('a success code a command may not get (252 to RCPT, 250 to DATA, 251 to MAIL) is a temporary failure, never a delivery', async (t) => {
  const zones: Zones = { 'd.test': [{ MX: [10, 'mx.d.test'] }], 'mx.d.test': [{ A: '127.0.0.1' }] };
  for (const [command, reply] of [['RCPT', '252 2.1.5 cannot verify, will accept'], ['DATA', '250 2.0.0 ok'], ['MAIL', '251 ok']] as const) {
    const peer = await rawSmtp(t, { reply: (line) => (line.startsWith(command) ? reply : undefined) });
    const out = await outbound(t, zones, peer.port);
    const o = (await out.deliver('s@o.test', 'd.test', ['x@d.test'], MSG)).get('x@d.test');
    assert.equal(o?.status, 'temp', `${command} answered ${reply}: ${JSON.stringify(o)}`);
    assert.match(o?.reply.text ?? '', new RegExp(`unexpected reply to ${command}: ${reply.slice(0, 3)}`));
    assert.equal(o?.remoteMta, undefined, 'our own reply names no remote MTA');
    assert.equal(peer.taken(), 0);
  }
});

test('with tls_verify, a certificate that fails verification defers the message: it does not go in clear instead', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sg-tlsv-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=mx.tls.test'], { stdio: 'ignore' });
  const sink = await startSink({ tls: { key: readFileSync(key), cert: readFileSync(cert) } });
  t.after(() => sink.close());
  const zones: Zones = { 'tls.test': [{ MX: [10, 'mx.tls.test'] }], 'mx.tls.test': [{ A: '127.0.0.1' }] };
  const verifying = await outbound(t, zones, sink.port, { starttls: 'opportunistic', tls_verify: true });
  const o = (await verifying.deliver('s@o.test', 'tls.test', ['x@tls.test'], MSG)).get('x@tls.test');
  assert.equal(o?.status, 'temp', JSON.stringify(o));
  assert.equal(sink.messages.length, 0);
  // without verification the same server gets it over TLS
  const plain = await outbound(t, zones, sink.port, { starttls: 'opportunistic', tls_verify: false });
  assert.equal((await plain.deliver('s@o.test', 'tls.test', ['x@tls.test'], MSG)).get('x@tls.test')?.status, 'delivered');
  assert.equal(sink.messages[0]?.secure, true);
});

test('an MX at 0.0.0.0 or :: is a host without an address, and MX hosts that do not exist fail at once (5.4.4), never connected to', async (t) => {
  const peer = await rawSmtp(t, {}, '127.0.0.1');
  const zones: Zones = {
    'zero.test': [{ MX: [10, 'mx.zero.test'] }],
    'mx.zero.test': [{ A: '0.0.0.0' }, { AAAA: '::' }],
    'gone.test': [{ MX: [10, 'nx1.gone.test'] }, { MX: [20, 'nx2.gone.test'] }],
  };
  const out = await outbound(t, zones, peer.port);
  for (const domain of ['zero.test', 'gone.test']) {
    const o = (await out.deliver('s@o.test', domain, [`x@${domain}`], MSG)).get(`x@${domain}`);
    assert.deepEqual([o?.status, o?.reply.code, o?.reply.enhanced], ['perm', 550, '5.4.4'], `${domain}: ${JSON.stringify(o)}`);
  }
  assert.equal(peer.taken(), 0);
});

test('an MX that is this server by address, with another at the same preference: a loop bounce whatever the shuffle (RFC 5321 §5.1)', async (t) => {
  const sink = await startSink({ host: '127.0.0.2' });
  t.after(() => sink.close());
  const zones: Zones = { 'd.test': [{ MX: [10, 'self.d.test'] }, { MX: [10, 'peer.d.test'] }], 'self.d.test': [{ A: '127.0.0.1' }], 'peer.d.test': [{ A: '127.0.0.2' }] };
  for (const order of [[0.1, 0.9], [0.9, 0.1]]) {
    let i = 0;
    const out = await outbound(t, zones, sink.port, {}, { random: () => order[i++ % 2] ?? 0.5, isSelfAddress: (a) => a === '127.0.0.1' });
    const o = (await out.deliver('s@o.test', 'd.test', ['x@d.test'], MSG)).get('x@d.test');
    assert.deepEqual([o?.status, o?.reply.enhanced], ['perm', '5.4.6'], `shuffle ${order.join(',')}: ${JSON.stringify(o)}`);
  }
  assert.equal(sink.messages.length, 0);
});

test('a pooled connection that breaks after the message was sent is not retried at once (the server may have it): deferred, sent once', async (t) => {
  const peer = await rawSmtp(t, { dropAfterMessage: 2 });
  const out = await outbound(t, { 'd.test': [{ MX: [10, 'mx.d.test'] }], 'mx.d.test': [{ A: '127.0.0.1' }] }, peer.port);
  assert.equal((await out.deliver('s@o.test', 'd.test', ['x@d.test'], MSG)).get('x@d.test')?.status, 'delivered');
  // the second message goes over the pooled connection, which breaks after its data
  assert.equal((await out.deliver('s@o.test', 'd.test', ['x@d.test'], MSG)).get('x@d.test')?.status, 'temp');
  assert.equal(peer.received(), 2, 'not sent a third time on a fresh connection');
});

test('a connection lost after the whole message went out: deferred (it may have been delivered), not sent to the next MX at once', async (t) => {
  const primary = await rawSmtp(t, { dropAfterMessage: 1 }, '127.0.0.1');
  const backup = await rawSmtp(t, {}, '127.0.0.2', primary.port);
  const zones: Zones = { 'd.test': [{ MX: [10, 'a.d.test'] }, { MX: [20, 'b.d.test'] }], 'a.d.test': [{ A: '127.0.0.1' }], 'b.d.test': [{ A: '127.0.0.2' }] };
  const out = await outbound(t, zones, primary.port);
  const o = (await out.deliver('s@o.test', 'd.test', ['x@d.test'], MSG)).get('x@d.test');
  assert.deepEqual([o?.status, o?.reply.enhanced], ['temp', '4.4.2'], JSON.stringify(o));
  assert.match(o?.reply.text ?? '', /may have been delivered/);
  assert.deepEqual([primary.received(), backup.received()], [1, 0], 'sent once');
});

test('a next hop that greets 554 is passed over for the next MX', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  await rawSmtp(t, { greeting: '554 5.7.1 no service here\r\n' }, '127.0.0.6', sink.port);
  const out = await outbound(t, TWO_MX, sink.port);
  const res = await out.deliver('s@o.test', 'dest.test', ['x@dest.test'], MSG);
  assert.equal(res.get('x@dest.test')?.status, 'delivered');
  assert.equal(res.get('x@dest.test')?.remoteMta, 'good.dest.test');
});

test('a next hop that drops the connection mid-DATA: the message goes to the next MX, or is deferred', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  await rawSmtp(t, { dropInData: true }, '127.0.0.6', sink.port);
  // 40 MiB to the second MX within the command timeout even on a loaded machine (1 s made it defer there)
  const out = await outbound(t, TWO_MX, sink.port, { command_timeout: '20s' });
  // larger than the socket buffers on both ends (loopback: up to 4 MiB sending, 32 MiB receiving), so the
  // drop cuts the writing short; a body the kernel took whole defers instead (see below)
  const big = Buffer.concat([MSG, Buffer.alloc(40 * 1024 * 1024, 'y'.repeat(76) + '\r\n')]);
  const res = await out.deliver('s@o.test', 'dest.test', ['x@dest.test'], big);
  assert.equal(res.get('x@dest.test')?.remoteMta, 'good.dest.test');
  assert.equal(sink.messages.length, 1);
  const alone = await rawSmtp(t, { dropInData: true });
  const only = await outbound(t, { 'one.test': [{ MX: [10, 'mx.one.test'] }], 'mx.one.test': [{ A: '127.0.0.1' }] }, alone.port);
  const r2 = await only.deliver('s@o.test', 'one.test', ['x@one.test'], MSG);
  assert.equal(r2.get('x@one.test')?.status, 'temp');
  assert.equal(r2.get('x@one.test')?.reply.code, 451);
});

test('a next hop that stalls at EHLO or after the data is given up and retried later, never waited on forever', async (t) => {
  for (const stall of ['ehlo', 'data-end'] as const) {
    const peer = await rawSmtp(t, { stall });
    const out = await outbound(t, { 'slow.test': [{ MX: [10, 'mx.slow.test'] }], 'mx.slow.test': [{ A: '127.0.0.1' }] }, peer.port, { connect_timeout: '300ms', command_timeout: '300ms' });
    const res = await out.deliver('s@o.test', 'slow.test', ['x@slow.test'], MSG);
    assert.equal(res.get('x@slow.test')?.status, 'temp', stall);
    assert.equal(peer.taken(), 0);
  }
});

test('odd but valid replies: multi-line greeting, bare-LF lines, one byte per packet', async (t) => {
  const peer = await rawSmtp(t, { greeting: '220-raw.test first\r\n220-\r\n220 ready\r\n', ehlo: '250-raw.test hello\n250-8BITMIME\r\n250 SIZE 1000000\r\n', dribble: true });
  const out = await outbound(t, { 'odd.test': [{ MX: [10, 'mx.odd.test'] }], 'mx.odd.test': [{ A: '127.0.0.1' }] }, peer.port);
  const res = await out.deliver('s@o.test', 'odd.test', ['x@odd.test', 'y@odd.test'], MSG);
  assert.equal(res.get('x@odd.test')?.status, 'delivered');
  assert.equal(res.get('y@odd.test')?.status, 'delivered');
  assert.equal(peer.taken(), 1);
});

/** Polls a condition the gateway reaches on its own (queue work); bounded by a deadline. */
async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('null MX and an MX that is ourselves: one bounce at once (5.1.10, 5.4.6); a null sender gets none', async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const zones: Zones = {
    'nomail.example': [{ MX: [0, '.'] }],
    'loop.example': [{ MX: [10, 'mx.test.example'] }],
    'mx.test.example': [{ A: '127.0.0.1' }],
    'sender.example': [{ MX: [10, 'mx.sender.example'] }],
    'mx.sender.example': [{ A: '127.0.0.1' }],
  };
  const gw = await startGateway(t, { outbound: { port: sink.port }, queue: { retry_initial: '1h', scan_interval: '100ms' } }, { zones });
  const body = 'Subject: to nowhere\r\nMessage-ID: <nowhere@sender.example>\r\n\r\nhello\r\n';
  const bounced = await sendMessage(gw.smtpPort, '', ['x@nomail.example'], body);
  assert.equal(bounced.data?.code, 250);
  const r = await sendMessage(gw.smtpPort, 'alice@sender.example', ['x@nomail.example', 'y@loop.example'], body);
  assert.equal(r.data?.code, 250);
  await sink.waitForMessages(1, 15_000);
  await until('three messages done', () => gw.logs.filter((l) => l.msg === 'message done').length >= 3);
  assert.equal(sink.messages.length, 1, 'one bounce, none for the null sender');
  const dsn = sink.messages[0];
  assert.equal(dsn?.mailFrom, '');
  assert.deepEqual(dsn?.rcptTo, ['alice@sender.example']);
  const text = dsn?.raw.toString() ?? '';
  assert.match(text, /Status: 5\.1\.10/);
  assert.match(text, /Status: 5\.4\.6/);
  assert.ok(!gw.logs.some((l) => l.msg === 'message deferred'), 'failed at once, not retried');
});

test('a Maildir broken after first use defers local mail; once repaired it is delivered', async (t) => {
  const gw = await startGateway(t, { queue: { retry_initial: '200ms', retry_max: '400ms', scan_interval: '100ms' } });
  const domainDir = path.join(gw.dataDir, 'mail', 'localhost');
  const inbox = path.join(domainDir, 'postmaster', 'Maildir', 'new');
  const first = await sendMessage(gw.smtpPort, 'bob@elsewhere.example', ['postmaster@localhost'], 'Subject: before\r\n\r\nhello\r\n');
  assert.equal(first.data?.code, 250);
  // Wait until the queue has finished with the first message: its file shows in new/ before the
  // delivery is recorded, and breaking the tree then fails that delivery, so the message goes again.
  const firstId = /queued as (\S+)/.exec(first.data?.text ?? '')?.[1];
  await until('the first delivery', () => gw.logs.some((l) => l.msg === 'message done' && l.id === firstId));
  assert.equal(readdirSync(inbox).length, 1);
  // The whole mail tree of the domain goes, and a file stands where its directory was (disk trouble).
  rmSync(domainDir, { recursive: true, force: true });
  writeFileSync(domainDir, 'a file where a directory should be\n');
  const r = await sendMessage(gw.smtpPort, 'bob@elsewhere.example', ['postmaster@localhost'], 'Subject: disk trouble\r\n\r\nhello\r\n');
  assert.equal(r.data?.code, 250);
  await until('a deferral', () => gw.logs.some((l) => l.msg === 'message deferred'));
  assert.ok(!gw.logs.some((l) => l.msg === 'bounce queued'), 'deferred, never bounced');
  rmSync(domainDir);
  await until('delivery after the repair', () => existsSync(inbox) && readdirSync(inbox).length === 1);
});

test('an alias lattice expands once per alias; path tricks in local parts are refused at RCPT, without files', async (t) => {
  const aliases: Record<string, string[]> = {};
  for (let i = 0; i < 45; i++) {
    const next = i === 44 ? ['postmaster@localhost'] : [`a${i + 1}@localhost`, `b${i + 1}@localhost`];
    aliases[`a${i}@localhost`] = next;
    aliases[`b${i}@localhost`] = next;
  }
  aliases['ring0@localhost'] = ['ring1@localhost'];
  aliases['ring1@localhost'] = ['a3@localhost', 'ring0@localhost'];
  aliases['escape@localhost'] = ['../../../tmp/evil@localhost'];
  const gw = await startGateway(t, { aliases, mailhost: { max_alias_depth: 50 } });
  // 2^45 paths lead from a0 to postmaster: walked once per path, this RCPT would never be answered.
  const ok = await sendMessage(gw.smtpPort, 'bob@elsewhere.example', ['a0@localhost'], 'Subject: lattice\r\n\r\nx\r\n');
  assert.equal(ok.data?.code, 250, JSON.stringify(ok.replies));
  const r = await sendMessage(gw.smtpPort, 'bob@elsewhere.example', ['ring0@localhost', 'escape@localhost', '../x@localhost', 'a/b@localhost'], 'Subject: x\r\n\r\nx\r\n');
  const rcptCodes = r.replies.slice(2).map((x) => x.code);
  assert.ok(rcptCodes.every((c) => c >= 500), JSON.stringify(r.replies));
  assert.ok(!existsSync(path.join(gw.dataDir, 'tmp', 'evil')));
  assert.ok(!existsSync(path.join(gw.dataDir, 'mail', 'x')));
});

test('alias expansion is bounded in steps', () => {
  const targets = Array.from({ length: MAX_EXPANSION_VISITS + 1 }, (_v, i) => `m${i}@remote.example`);
  const ctx = { hasUser: () => false, aliases: new Map([['big@local.example', targets]]), isLocalDomain: (d: string) => d === 'local.example', primaryDomain: 'local.example', delimiter: '+', maxDepth: 10 };
  assert.equal(expandAddress('big@local.example', ctx).resolution.kind, 'loop');
  const fits = new Map([['big@local.example', targets.slice(0, 500)]]);
  const r = expandAddress('big@local.example', { ...ctx, aliases: fits }).resolution;
  assert.equal(r.kind === 'local' && r.remote.length, 500);
});

test('quota holds when deliveries to one mailbox run at the same time', async (t) => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'spamgate-quota-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const store = createMaildirStore({ root, fsync: false });
  const raw = Buffer.from('Subject: q\r\n\r\n' + 'x'.repeat(200) + '\r\n');
  const copy = raw.length + 'Return-Path: <s@o.test>\r\nDelivered-To: alice@example.com\r\n'.length;
  const directory = { lookup: (u: string) => ({ name: u }), quotaOf: () => copy * 2 };
  const ld = createLocalDelivery({ store, directory, log: silentLogger, registry: createRegistry(false) });
  const req = (i: number) => ({ mailFrom: 's@o.test', recipient: 'alice@example.com', mailbox: 'alice@example.com', raw, junk: false, deliveryId: `q${i}` });
  const results = await Promise.all(Array.from({ length: 6 }, (_v, i) => ld.deliverLocal(req(i))));
  assert.equal(results.filter((r) => r.kind === 'delivered').length, 2, JSON.stringify(results.map((r) => r.kind)));
  assert.equal(results.filter((r) => r.kind === 'over-quota').length, 4);
  assert.equal((await store.list('alice@example.com', 'INBOX')).length, 2);
});

test('user names that could leave the Maildir root are refused', () => {
  const local = (d: string): boolean => d === 'localhost';
  for (const bad of ['../x@localhost', '..@localhost', 'a/b@localhost', 'a\0b@localhost', 'x@../localhost', '.x@localhost', 'x@localhost/..']) {
    assert.equal(checkUserName(bad, local).ok, false, JSON.stringify(bad));
  }
  assert.equal(checkUserName('Alice.B-c_d@LocalHost', local).ok, true);
});

test('an alias member whose whole quota the message exceeds: the others get it, the bounce names that member alone, once', async (t) => {
  const password = await hashPassword('tiny-password', { N: 1024, r: 8, p: 1 });
  const sink = await startSink();
  t.after(() => sink.close());
  const zones: Zones = { 'remote.example': [{ MX: [10, 'mx.remote.example'] }], 'mx.remote.example': [{ A: '127.0.0.1' }] };
  const gw = await startGateway(
    t,
    {
      users: { 'tiny@localhost': { password, quota: 1024 } },
      aliases: { 'team@localhost': ['postmaster@localhost', 'tiny@localhost'] },
      outbound: { port: sink.port },
      queue: { retry_initial: '200ms', retry_max: '400ms', scan_interval: '100ms' },
    },
    { zones },
  );
  const r = await sendMessage(gw.smtpPort, 'bob@remote.example', ['team@localhost'], `Subject: big\r\n\r\n${'x'.repeat(4000)}\r\n`);
  assert.equal(r.data?.code, 250, JSON.stringify(r.replies));
  const id = /queued as (\S+)/.exec(r.data?.text ?? '')?.[1];
  await until('the message done', () => gw.logs.some((l) => l.msg === 'message done' && l.id === id));
  await sink.waitForMessages(1, 20_000);
  const inbox = path.join(gw.dataDir, 'mail', 'localhost', 'postmaster', 'Maildir', 'new');
  assert.equal(readdirSync(inbox).length, 1, 'the member with room has the message');
  const done = gw.logs.find((l) => l.msg === 'message done' && l.id === id);
  assert.equal(done?.failures, undefined, 'the alias itself did not fail');
  const bounces = gw.logs.filter((l) => l.msg === 'bounce queued' && l.id === id);
  assert.equal(bounces.length, 1, JSON.stringify(bounces));
  assert.deepEqual(bounces[0]?.recipients, ['tiny@localhost']);
  // the notice: Final-Recipient is the member, Original-Recipient the alias the sender wrote to
  assert.equal(sink.messages.length, 1);
  assert.equal(sink.messages[0]?.mailFrom, '');
  const notice = sink.messages[0]?.raw.toString('latin1') ?? '';
  assert.match(notice, /Final-Recipient: rfc822; tiny@localhost\r\n/);
  assert.match(notice, /Original-Recipient: rfc822;team@localhost\r\n/);
  assert.match(notice, /Diagnostic-Code: X-Spamgate; 552 5\.2\.3 .*\(expanded from <team@localhost>\)/);
  assert.doesNotMatch(notice, /Final-Recipient: rfc822; (team|postmaster)@localhost/);
});

test('an alias member over quota for now and another for good: the alias is retried, then the notice goes once', async (t) => {
  const password = await hashPassword('tiny-password', { N: 1024, r: 8, p: 1 });
  const sink = await startSink();
  t.after(() => sink.close());
  const zones: Zones = { 'remote.example': [{ MX: [10, 'mx.remote.example'] }], 'mx.remote.example': [{ A: '127.0.0.1' }] };
  const gw = await startGateway(
    t,
    {
      users: { 'tiny@localhost': { password, quota: 1024 }, 'full@localhost': { password, quota: 7000 } },
      aliases: { 'team@localhost': ['postmaster@localhost', 'tiny@localhost', 'full@localhost'] },
      outbound: { port: sink.port },
      queue: { retry_initial: '200ms', retry_max: '400ms', scan_interval: '100ms' },
    },
    { zones },
  );
  // full@ holds 4000 octets of its 7000: the next 4000 do not fit now (452), but would after a cleanup
  const first = await sendMessage(gw.smtpPort, 'bob@remote.example', ['full@localhost'], `Subject: filler\r\n\r\n${'f'.repeat(4000)}\r\n`);
  const firstId = /queued as (\S+)/.exec(first.data?.text ?? '')?.[1];
  await until('the filler delivered', () => gw.logs.some((l) => l.msg === 'message done' && l.id === firstId));
  const r = await sendMessage(gw.smtpPort, 'bob@remote.example', ['team@localhost'], `Subject: big\r\n\r\n${'x'.repeat(4000)}\r\n`);
  const id = /queued as (\S+)/.exec(r.data?.text ?? '')?.[1];
  await until('the alias deferred twice', () => gw.logs.filter((l) => l.msg === 'message deferred' && l.id === id).length >= 2);
  assert.equal(gw.logs.filter((l) => l.msg === 'bounce queued' && l.id === id).length, 0, 'no notice while the alias is retried');
  const fullNew = path.join(gw.dataDir, 'mail', 'localhost', 'full', 'Maildir', 'new');
  for (const f of readdirSync(fullNew)) rmSync(path.join(fullNew, f));
  await until('the message done', () => gw.logs.some((l) => l.msg === 'message done' && l.id === id));
  await sink.waitForMessages(1, 20_000);
  assert.equal(readdirSync(path.join(gw.dataDir, 'mail', 'localhost', 'postmaster', 'Maildir', 'new')).length, 1, 'one copy for postmaster, retries or not');
  assert.equal(readdirSync(fullNew).length, 1);
  const bounces = gw.logs.filter((l) => l.msg === 'bounce queued' && l.id === id);
  assert.equal(bounces.length, 1, JSON.stringify(bounces));
  assert.deepEqual(bounces[0]?.recipients, ['tiny@localhost']);
});
