// The SMTP listener on ::1: an IPv6 client through the session and the checks, over real sockets.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startGateway } from '../helpers/gateway.ts';
import { startSink } from '../helpers/sink-server.ts';
import { SmtpWire } from '../helpers/smtp-wire.ts';

interface LoggedSymbol {
  s: string;
  o?: string[];
}

test('HELO address literals: [IPv6:…] in its full or compressed spelling is the client ::1; another address is a mismatch', async (t) => {
  const gw = await startGateway(t, { smtp: { listen: { host: '::1', port: 0 }, trusted_networks: [] } });
  const symbolsFor = async (helo: string): Promise<string[]> => {
    const { wire, greeting } = await SmtpWire.open(gw.smtpPort, '::1');
    t.after(() => wire.close());
    assert.equal(greeting.code, 220);
    for (const line of [`EHLO ${helo}`, 'MAIL FROM:<>', 'RCPT TO:<postmaster@localhost>', 'DATA']) assert.ok((await wire.command(line)).code < 400, line);
    const data = await wire.command('Subject: literal\r\n\r\nhello\r\n.');
    assert.equal(data.code, 250, data.text);
    await wire.command('QUIT');
    const tx = gw.transactions().find((l) => l.helo === helo.toLowerCase());
    assert.ok(tx, `transaction logged for ${helo}`);
    return (tx.symbols as LoggedSymbol[]).map((h) => h.s).filter((s) => s.startsWith('HELO_'));
  };
  // RFC 5321 §4.1.3: IPv6-full and IPv6-comp name the same address
  assert.deepEqual(await symbolsFor('[IPv6:::1]'), []);
  assert.deepEqual(await symbolsFor('[IPv6:0:0:0:0:0:0:0:1]'), []);
  assert.deepEqual(await symbolsFor('[IPv6:0000:0000:0000:0000:0000:0000:0000:0001]'), []);
  assert.deepEqual(await symbolsFor('[IPv6:2001:db8::1]'), ['HELO_LITERAL_MISMATCH']);
});

test('outbound: an MX with only an AAAA record (::1) gets the message over IPv6, with the DSN parameters as given', async (t) => {
  const sink = await startSink({ host: '::1', dsn: true });
  t.after(() => sink.close());
  const zones = { 'six.example': [{ MX: [10, 'mx.six.example'] as [number, string] }], 'mx.six.example': [{ AAAA: '::1' }] };
  const gw = await startGateway(t, { smtp: { listen: { host: '::1', port: 0 } }, outbound: { port: sink.port }, queue: { retry_initial: '200ms', scan_interval: '100ms' } }, { zones });
  const { wire } = await SmtpWire.open(gw.smtpPort, '::1');
  t.after(() => wire.close());
  // a trusted client (::1/128 by default) relays
  for (const line of ['EHLO [IPv6:::1]', 'MAIL FROM:<boss@localhost> RET=HDRS ENVID=env+2B1', 'RCPT TO:<bob@six.example> NOTIFY=FAILURE ORCPT=rfc822;bob@six.example', 'DATA']) {
    assert.ok((await wire.command(line)).code < 400, line);
  }
  assert.equal((await wire.command('Subject: six\r\n\r\n..leading dot\r\n.')).code, 250);
  await sink.waitForMessages(1, 10_000);
  const got = sink.messages[0];
  assert.deepEqual(got?.rcptTo, ['bob@six.example']);
  assert.deepEqual([got?.mailParams.RET, got?.mailParams.ENVID], ['HDRS', 'env+1']);
  assert.deepEqual(got?.rcptParams['bob@six.example'], { NOTIFY: 'FAILURE', ORCPT: 'rfc822;bob@six.example' });
  assert.match(got?.raw.toString('latin1') ?? '', /Received: from \[ipv6:::1\] \(\[IPv6:::1\]\)\r\n/);
  assert.match(got?.raw.toString('latin1') ?? '', /\r\n\r\n\.leading dot\r\n$/, 'dot-stuffing undone on the way in, redone on the way out');
});

test('PROXY v1 from a proxy on ::1: TCP6 needs two IPv6 addresses; the client it names is the one checked', async (t) => {
  const gw = await startGateway(t, { smtp: { listen: { host: '::1', port: 0 }, proxy_protocol_from: ['::1/128'] } });
  const proxied = async (line: string): Promise<SmtpWire> => {
    const wire = await SmtpWire.connect(gw.smtpPort, '::1');
    t.after(() => wire.close());
    wire.write(`${line}\r\n`);
    return wire;
  };
  // not addresses of the family the line names: refused like any broken header
  for (const src of ['::::', '1.2.3.4', 'fe80::1%eth0']) {
    const wire = await proxied(`PROXY TCP6 ${src} ::1 40000 25`);
    const reply = await wire.read();
    assert.deepEqual([reply.code, reply.text], [421, 'mx.test.example 4.7.0 PROXY protocol header expected'], src);
  }
  const wire = await proxied('PROXY TCP6 2001:DB8:0:0:0:0:0:7 ::1 40000 25');
  assert.equal((await wire.read()).code, 220);
  for (const line of ['EHLO [IPv6:2001:db8::7]', 'MAIL FROM:<>', 'RCPT TO:<postmaster@localhost>', 'DATA']) assert.ok((await wire.command(line)).code < 400, line);
  assert.equal((await wire.command('Subject: proxied\r\n\r\nhello\r\n.')).code, 250);
  const tx = gw.transactions().at(-1);
  assert.equal(tx?.client_ip, '2001:db8::7');
  assert.deepEqual((tx?.symbols as LoggedSymbol[]).filter((h) => h.s.startsWith('HELO_')), [], 'the HELO literal is the proxied client');
});
