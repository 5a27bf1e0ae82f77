// spamgate answering the rspamd HTTP scan protocol (spamd.http_listen): curl and node's fetch POST messages to
// /checkv2 with the envelope in request headers (IP, Helo, From, Rcpt, User) and read rspamd's JSON; the
// envelope drives SPF and the DNSBL (against the loopback dns2 server); a message scored through the spamd
// listener and through /checkv2 gets the same score; /ping; learning on and off; and what a broken or hostile
// client gets: rspamd's {"error"} with a 4xx, or a closed connection.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { test, type TestContext } from 'node:test';
import { SHIPPED_RULES_DIR } from '../../src/config/load.ts';
import type { Zones } from '../helpers/dns-server.ts';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { DNS_CHECKS, milterTestRules } from '../helpers/milter-gateway.ts';
import { rawExchange as raw } from '../helpers/raw-exchange.ts';
import { runProgram, type ProgramRun } from '../helpers/run-program.ts';

type Json = Record<string, unknown>;
type Gw = RunningGateway & { scanHttpPort: number; spamdPort: number };

const RECEIVED = 'Received: from mail.sender.example (mail.sender.example [198.51.100.7])\r\n\tby mx.example.test (Postfix) with ESMTP id 4Abc;\r\n\tSun, 22 Nov 2026 00:00:00 +0000\r\n';

function message(marker: string, extra = ''): string {
  return `${RECEIVED}From: Sender <news@sender.example>\r\nTo: user@example.test\r\nSubject: monthly news\r\nDate: Sun, 22 Nov 2026 00:00:00 +0000\r\nMessage-ID: <m1.${marker.length}@sender.example>\r\n${extra}\r\nHello, ${marker} here.\r\n`;
}

function rules(t: TestContext): string {
  const dir = milterTestRules(t);
  writeFileSync(
    path.join(dir, 'zz-scan-http.yaml'),
    `lists:
  LIST_T_IP: { type: ip, weight: 0.1, description: test client network, entries: [198.51.100.0/24] }
  LIST_T_HELO: { type: helo, weight: 0.1, description: test HELO name, entries: [mail.sender.example] }
dnsbl:
  testbl:
    zone: dnsbl.test
    kind: ip
    codes:
      127.0.0.3: DNSBL_TEST_DYNAMIC
symbols:
  DNSBL_TEST_DYNAMIC: { weight: 2.5, description: "test list, dynamic range" }
overrides:
  strict@example.test: { junk: 5 }
`,
  );
  return dir;
}

async function start(t: TestContext, spamd: Json = {}, extra: Json = {}, zones: Zones = {}): Promise<Gw> {
  const gw = await startGateway(
    t,
    {
      mode: 'front-of',
      delivery: { upstream: { host: '127.0.0.1', port: 9 } },
      local_domains: ['example.test'],
      rules_dirs: [SHIPPED_RULES_DIR, rules(t)],
      bayes: { enabled: false },
      smtp: { trusted_networks: [] },
      checks: { disabled: DNS_CHECKS },
      spamd: { enabled: true, listen: '127.0.0.1:0', http_listen: '127.0.0.1:0', ...spamd },
      ...extra,
    },
    { zones },
  );
  assert.ok(gw.scanHttpPort, 'the rspamd http listener listens');
  return gw as Gw;
}

async function check(gw: Gw, body: string, headers: Record<string, string> = {}): Promise<{ status: number; json: Json }> {
  const res = await fetch(`http://127.0.0.1:${gw.scanHttpPort}/checkv2`, { method: 'POST', headers, body });
  return { status: res.status, json: (await res.json()) as Json };
}

function curl(args: readonly string[], input: string): Promise<ProgramRun> {
  return runProgram('curl', ['-sS', ...args], { stdin: input });
}

async function metric(gw: RunningGateway, labels: string): Promise<number> {
  const text = await gw.app.registry.getSingleMetricAsString('spamgate_scan_http_requests_total');
  const line = text.split('\n').find((l) => l.startsWith(`spamgate_scan_http_requests_total{${labels}}`));
  return Number(line?.split(' ').pop() ?? NaN);
}

const symbolNames = (j: Json): string[] => Object.keys(j.symbols as Json).sort();

test('/checkv2 with fetch and curl: rspamd JSON for spam and ham, the envelope headers reach the checks, /ping', async (t) => {
  const gw = await start(t);
  const env = { IP: '198.51.100.7', Helo: 'mail.sender.example', From: '<news@sender.example>', Rcpt: 'user@example.test', 'Queue-Id': 'ABC123' };
  const spam = await check(gw, message('REJECT-MARKER'), env);
  assert.equal(spam.status, 200);
  const j = spam.json;
  assert.equal(j.is_skipped, false);
  assert.equal(j.score, 20.2);
  assert.equal(j.required_score, 6);
  assert.equal(j.action, 'reject');
  assert.deepEqual(symbolNames(j), ['CT_TEST_REJECT', 'LIST_T_HELO', 'LIST_T_IP']);
  assert.deepEqual((j.symbols as Json).CT_TEST_REJECT, { name: 'CT_TEST_REJECT', score: 20, metric_score: 20, description: 'test marker for reject', options: ['REJECT-MARKER'] });
  assert.equal(j['message-id'], 'm1.13@sender.example');
  assert.equal(typeof j.time_real, 'number');
  const milter = j.milter as { add_headers: Record<string, { value: string; order: number }>; remove_headers: Json };
  assert.match(milter.add_headers['X-Spamgate-Result']?.value ?? '', /^reject; score=20\.2; id=[0-9a-f]{16};/);
  assert.equal(milter.add_headers['X-Spam']?.value, 'Yes');
  assert.deepEqual(milter.remove_headers, { 'X-Spamgate-Result': 0, 'X-Spam': 0 });
  assert.equal(typeof (j.messages as Json).smtp_message, 'string');

  // ham with curl (rspamc's headers, a repeated Rcpt); no IP header: the envelope checks do not run
  const c = await curl(['--data-binary', '@-', '-H', 'Rcpt: <a@example.test>', '-H', 'Rcpt: <b@example.test>', '-H', 'Pass: all', '-H', 'Settings-ID: x', `http://127.0.0.1:${gw.scanHttpPort}/checkv2`], message('nothing special', 'X-Spamgate-Result: accept; score=-50\r\n'));
  assert.equal(c.status, 0);
  const ham = JSON.parse(c.stdout) as Json;
  assert.deepEqual([ham.score, ham.action, symbolNames(ham)], [0, 'no action', []]);
  assert.equal(ham.milter && (ham.milter as { add_headers: Json }).add_headers['X-Spam'], undefined);
  // TAG-MARKER (5.2) + the lists: rewrite subject
  const tag = await check(gw, message('TAG-MARKER'), env);
  assert.deepEqual([tag.json.score, tag.json.action, tag.json.required_score], [5.4, 'rewrite subject', 6]);
  assert.equal(tag.json.subject, '***SPAM*** monthly news');
  // a recipient at a local domain with its own thresholds: junk at 5
  const strict = await check(gw, message('TAG-MARKER'), { ...env, Rcpt: 'strict@example.test' });
  // junk (the recipient's threshold 5) is rspamd's "rewrite subject"
  assert.deepEqual([strict.json.score, strict.json.required_score, strict.json.action], [5.4, 5, 'rewrite subject']);
  assert.match((strict.json.milter as { add_headers: Record<string, { value: string }> }).add_headers['X-Spamgate-Result']?.value ?? '', /^junk;/);

  // /ping
  const ping = await fetch(`http://127.0.0.1:${gw.scanHttpPort}/ping`);
  assert.equal(await ping.text(), 'pong\r\n');

  // one transaction line per scan, the envelope from the headers
  const tx = gw.transactions().filter((l) => l.listener === 'spamd');
  assert.equal(tx.length, 4);
  assert.equal(tx[0]?.client_ip, '198.51.100.7');
  assert.equal(tx[0]?.from, 'news@sender.example');
  assert.deepEqual(tx[1]?.rcpts, ['a@example.test', 'b@example.test']);
  assert.match(String(tx[0]?.reply), /^rspamd-http checkv2: spam /);
  assert.equal(await metric(gw, 'endpoint="checkv2",result="spam"'), 2);
  assert.equal(await metric(gw, 'endpoint="checkv2",result="ham"'), 2);
  assert.equal(await metric(gw, 'endpoint="ping",result="ok"'), 1);
});

test('the same message scored through the spamd listener and /checkv2 gets the same score', async (t) => {
  const gw = await start(t);
  for (const marker of ['REJECT-MARKER', 'TAG-MARKER', 'plain']) {
    const body = Buffer.from(message(marker));
    const spamd = await raw(gw.spamdPort, [`CHECK SPAMC/1.5\r\nContent-length: ${body.length}\r\n\r\n`, body.toString('latin1')]);
    const m = /Spam: \w+ ; ([\d.]+) \/ ([\d.]+)/.exec(spamd);
    assert.ok(m, spamd);
    const http = await check(gw, message(marker), { IP: '198.51.100.7', Helo: 'mail.sender.example' });
    assert.deepEqual([http.json.score, http.json.required_score], [Number(m[1]), Number(m[2])], marker);
  }
});

test('the legacy RSPAMC protocol as Exim\'s variant=rspamd sends it, on the same port', async (t) => {
  const gw = await start(t);
  const exim = (body: string, extra = ''): string[] => [`CHECK RSPAMC/1.3\r\nContent-length: ${Buffer.byteLength(body)}\r\nQueue-Id: 1abc\r\nFrom: <news@sender.example>\r\nRecipient-Number: 1\r\nRcpt: <user@example.test>\r\nHelo: mail.sender.example\r\nIP: 198.51.100.7\r\n${extra}\r\n`, body];
  const spam = await raw(gw.scanHttpPort, exim(message('REJECT-MARKER')));
  // Exim: sscanf(buf, "RSPAMD/%7s 0 EX_OK\r\nMetric: default; %7s %lf / %lf / %lf\r\n%n", …) then "Action: "
  const m = /^RSPAMD\/(\S{1,7}) 0 EX_OK\r\nMetric: default; (\S{1,7}) ([\d.]+) \/ ([\d.]+) \/ ([\d.]+)\r\nAction: ([a-z ]+)\r\n/.exec(spam);
  assert.ok(m, spam);
  assert.deepEqual(m.slice(2), ['True;', '20.20', '6.00', '15.00', 'reject']);
  assert.match(spam, /^Symbol: CT_TEST_REJECT\(20\.00\); REJECT-MARKER\r$/m);
  const ham = await raw(gw.scanHttpPort, exim(message('plain'), 'User: alice\r\n'));
  // User: an authenticated sender, outbound: as on submission, the client filters (here the lists) do not run
  assert.match(ham, /^RSPAMD\/1\.3 0 EX_OK\r\nMetric: default; False; 0\.00 \/ 6\.00 \/ 15\.00\r\nAction: no action\r\n/);
  const tx = gw.transactions();
  assert.equal(tx[1]?.auth_user, 'alice');
  assert.equal(tx[1]?.client_ip, '198.51.100.7');
  assert.match(await raw(gw.scanHttpPort, ['CHECK RSPAMC/1.3\r\nQueue-Id: x\r\n\r\n']), /^RSPAMD\/1\.3 76 Bad header line: Content-length required/);
  assert.equal(await metric(gw, 'endpoint="check",result="spam"'), 1);
  assert.equal(await metric(gw, 'endpoint="check",result="ham"'), 1);
  assert.equal(await metric(gw, 'endpoint="check",result="error"'), 1);
});

test('SPF from IP + From + Helo, and the DNSBL on IP, through the loopback DNS server', async (t) => {
  const zones: Zones = {
    'pass.example': [{ TXT: 'v=spf1 ip4:192.0.2.10 -all' }],
    '2.0.0.127.dnsbl.test': [{ A: '127.0.0.3' }],
    '10.2.0.192.dnsbl.test': [{ A: '127.0.0.3' }],
  };
  const gw = await start(t, {}, { checks: { disabled: DNS_CHECKS.filter((c) => c !== 'spf' && c !== 'dnsbl') } }, zones);
  const pass = await check(gw, message('x'), { IP: '192.0.2.10', Helo: 'mail.pass.example', From: 'alice@pass.example' });
  const names = symbolNames(pass.json);
  assert.ok(names.includes('SPF_PASS'), names.join());
  assert.ok(names.includes('DNSBL_TEST_DYNAMIC'), names.join());
  assert.match(JSON.stringify((pass.json.milter as { add_headers: Json }).add_headers['Received-SPF']), /pass/);
  const fail = await check(gw, message('x'), { IP: '192.0.2.11', Helo: 'mail.pass.example', From: 'alice@pass.example' });
  const failed = symbolNames(fail.json);
  assert.ok(failed.includes('SPF_FAIL'), failed.join());
  assert.ok(!failed.includes('SPF_PASS') && !failed.includes('DNSBL_TEST_DYNAMIC'), failed.join());
  // SPF_FAIL weighs reject (hard policy): rspamd's reject, with the SMTP text the gateway would send
  assert.deepEqual([pass.json.action, fail.json.action], ['no action', 'reject']);
  assert.match(String((fail.json.messages as Json).smtp_message), /^SPF validation failed/);
});

test('learning: /learnspam and /learnham through the learner with allow_tell; 403 without', async (t) => {
  const gw = await start(t, { allow_tell: true }, { bayes: { enabled: true } });
  const url = `http://127.0.0.1:${gw.scanHttpPort}`;
  const msg = message('cheap watches, best prices, click now');
  const first = await fetch(`${url}/learnspam`, { method: 'POST', body: msg });
  assert.deepEqual([first.status, await first.json()], [200, { success: true }]);
  const again = await fetch(`${url}/learnspam`, { method: 'POST', body: msg });
  assert.equal(again.status, 208);
  const ham = await fetch(`${url}/learnham`, { method: 'POST', body: msg });
  assert.deepEqual([ham.status, await ham.json()], [200, { success: true }]);
  const learned = await gw.app.registry.getSingleMetricAsString('spamgate_bayes_learned_total');
  assert.match(learned, /class="spam",source="manual"\} 1\b/);
  assert.match(learned, /class="ham",source="manual"\} 1\b/);

  const off = await start(t, {}, { bayes: { enabled: true } });
  const refused = await fetch(`http://127.0.0.1:${off.scanHttpPort}/learnspam`, { method: 'POST', body: msg });
  assert.equal(refused.status, 403);
  assert.match(String(((await refused.json()) as Json).error), /spamd\.allow_tell/);
  assert.equal(await metric(off, 'endpoint="learnspam",result="refused"'), 1);
});

test('limits and errors: size (413), bad envelope (400), no length (411), unknown path, timeout, networks, connections', async (t) => {
  const gw = await start(t, { max_size: '4k', timeout: '300ms', max_connections: 2 });
  const port = gw.scanHttpPort;
  const big = await check(gw, 'x'.repeat(5000));
  assert.equal(big.status, 413);
  assert.match(String(big.json.error), /over the limit of 4096 bytes/);
  // a chunked body is cut off as it passes the limit
  const chunk = 'y'.repeat(3000);
  const chunked = await raw(port, [`POST /checkv2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`, `${chunk.length.toString(16)}\r\n${chunk}\r\n`, `${chunk.length.toString(16)}\r\n${chunk}\r\n`]);
  assert.match(chunked, /^HTTP\/1\.1 413 /);
  assert.match(chunked, /"error":"message too big/);
  assert.equal(await metric(gw, 'endpoint="checkv2",result="too_large"'), 2);
  // a chunked body within the limit is judged
  const small = message('REJECT-MARKER');
  const ok = await raw(port, [`POST /checkv2 HTTP/1.1\r\nHost: x\r\nIP: 198.51.100.7\r\nTransfer-Encoding: chunked\r\n\r\n${small.length.toString(16)}\r\n${small}\r\n0\r\n\r\n`]);
  assert.match(ok, /^HTTP\/1\.1 200 /);
  assert.match(ok, /"action":"reject"/);

  // a transfer coding other than chunked (a gzipped body): 501, never judged still compressed (RFC 9112 §6.1)
  const gz = gzipSync(small);
  const gzipped = await raw(port, [`POST /checkv2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n${gz.length.toString(16)}\r\n`, gz, '\r\n0\r\n\r\n']);
  assert.match(gzipped, /^HTTP\/1\.1 501 [^]*"error":"transfer coding \\"gzip\\" is not supported/);

  const badIp = await check(gw, message('x'), { IP: 'not-an-ip' });
  assert.deepEqual([badIp.status, badIp.json], [400, { error: 'IP header is not an IP address: not-an-ip' }]);
  assert.equal((await check(gw, message('x'), { IP: '198.51.100.7', Helo: 'two words' })).status, 400);
  assert.match(await raw(port, ['POST /checkv2 HTTP/1.1\r\nHost: x\r\n\r\n']), /^HTTP\/1\.1 411 [^]*"error":"Content-Length/);
  assert.match(await raw(port, ['POST /checkv2 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n']), /^HTTP\/1\.1 400 [^]*"error":"empty message"/);
  const nowhere = await fetch(`http://127.0.0.1:${port}/nowhere`, { method: 'POST', body: 'x' });
  assert.deepEqual([nowhere.status, await nowhere.json()], [404, { error: 'no such endpoint: /nowhere' }]);
  assert.equal((await fetch(`http://127.0.0.1:${port}/checkv2`)).status, 405);
  assert.match(await raw(port, ['this is not http\r\n\r\n']), /^HTTP\/1\.1 400 /);
  assert.match(await raw(port, [`POST /checkv2 HTTP/1.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`]), /^HTTP\/1\.1 431 /);

  // a request that stalls half-way: 408 within spamd.timeout of the connection
  const started = Date.now();
  const stalled = raw(port, ['POST /checkv2 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly a bit']);
  const stalledHead = raw(port, ['POST /checkv2 HTTP/1.1\r\nHost: x\r\n']);
  await new Promise((r) => setTimeout(r, 100));
  // both slots are taken: the next connection gets 503
  assert.match(await raw(port, []), /^HTTP\/1\.1 503 [^]*too many connections/);
  assert.match(await stalled, /^HTTP\/1\.1 408 [^]*"error":"no complete request in time"/);
  assert.match(await stalledHead, /^HTTP\/1\.1 408 /);
  assert.ok(Date.now() - started >= 250);
  assert.equal(await metric(gw, 'endpoint="checkv2",result="timeout"'), 1);
  assert.equal(await metric(gw, 'endpoint="other",result="too_many"'), 1);
  assert.equal(await (await fetch(`http://127.0.0.1:${port}/ping`)).text(), 'pong\r\n');

  // outside allowed_networks: closed at connect, no answer
  const closed = await start(t, { allowed_networks: ['192.0.2.0/24'] });
  assert.equal(await raw(closed.scanHttpPort, ['GET /ping HTTP/1.1\r\nHost: x\r\n\r\n']), '');
  assert.equal(await metric(closed, 'endpoint="other",result="not_allowed"'), 1);
  await assert.rejects(fetch(`http://127.0.0.1:${closed.scanHttpPort}/ping`));
});

test('off by default: no rspamd listener, the metric series exist at 0', async (t) => {
  const gw = await startGateway(t, { spamd: { enabled: true, listen: '127.0.0.1:0' } });
  assert.equal(gw.scanHttpPort, undefined);
  assert.equal(await metric(gw, 'endpoint="checkv2",result="spam"'), 0);
});

test('many Rcpt headers: the headers after them are read, none dropped', async (t) => {
  const gw = await start(t);
  const body = message('x');
  const rcpts = Array.from({ length: 150 }, (_, i) => `Rcpt: <u${i}@example.test>\r\n`).join('');
  const bad = await raw(gw.scanHttpPort, [`POST /checkv2 HTTP/1.1\r\nHost: x\r\n${rcpts}IP: not-an-ip\r\nContent-Length: ${body.length}\r\n\r\n${body}`]);
  assert.match(bad, /^HTTP\/1\.1 400 [^]*"error":"IP header is not an IP address: not-an-ip"/);
  const ok = await raw(gw.scanHttpPort, [`POST /checkv2 HTTP/1.1\r\nHost: x\r\n${rcpts}IP: 198.51.100.7\r\nContent-Length: ${body.length}\r\n\r\n${body}`]);
  assert.match(ok, /^HTTP\/1\.1 200 [^]*"LIST_T_IP"/);
  assert.equal(gw.transactions().at(-1)?.client_ip, '198.51.100.7');
});

test('a pipelined request after the first is not served and does not cut the first answer short', async (t) => {
  const gw = await start(t, { allow_tell: false });
  const body = message('REJECT-MARKER');
  const req = `POST /checkv2 HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const answer = await raw(gw.scanHttpPort, [`${req}${req.replace('/checkv2', '/learnspam')}GET /ping HTTP/1.1\r\nHost: x\r\n\r\n`]);
  assert.match(answer, /^HTTP\/1\.1 200 [^]*"action":"reject"/);
  assert.equal(answer.match(/HTTP\/1\.1 /g)?.length, 1, answer);
  assert.equal(await metric(gw, 'endpoint="checkv2",result="spam"'), 1);
  assert.equal(await metric(gw, 'endpoint="learnspam",result="refused"'), 0);
  assert.equal(await metric(gw, 'endpoint="ping",result="ok"'), 0);
});

test('a request line that comes in pieces: legacy RSPAMC and HTTP, byte by byte', async (t) => {
  const gw = await start(t);
  const body = message('REJECT-MARKER');
  const trickle = (text: string, size: number): Promise<string> =>
    new Promise((resolve, reject) => {
      const s = net.connect(gw.scanHttpPort, '127.0.0.1');
      const chunks: Buffer[] = [];
      s.on('data', (d: Buffer) => chunks.push(d));
      s.on('error', reject);
      s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
      s.on('connect', async () => {
        // each piece its own packet (no delay), a moment apart
        s.setNoDelay(true);
        for (let i = 0; i < text.length && !s.destroyed; i += size) {
          s.write(text.slice(i, i + size));
          await new Promise((r) => setTimeout(r, 2));
        }
      });
    });
  const legacy = `CHECK RSPAMC/1.3\r\nContent-length: ${body.length}\r\nIP: 198.51.100.7\r\n\r\n`;
  assert.match(await trickle(`${legacy}${body}`, 1), /^RSPAMD\/1\.3 0 EX_OK\r\nMetric: default; True;[^]*\r\nAction: reject\r\n/);
  assert.match(await trickle(`POST /checkv2 HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`, 3), /^HTTP\/1\.1 200 [^]*"action":"reject"/);
  assert.match(await trickle('CHECKS /x HTTP/1.1\r\nHost: x\r\n\r\n', 1), /^HTTP\/1\.1 400 /);
});

test('a scan that takes longer than spamd.timeout is answered (the deadline is the request\'s, not the scan\'s)', async (t) => {
  const gw = await start(t, { timeout: '300ms' }, { checks: { disabled: DNS_CHECKS.filter((c) => c !== 'spf'), timeout: '2s' }, dns: { timeout: '800ms', retries: 0 } }, { 'slow.example': 'TIMEOUT' });
  const envelope = { IP: '192.0.2.10', Helo: 'mail.slow.example', From: 'alice@slow.example' };
  const started = Date.now();
  const http = await check(gw, message('x'), envelope);
  assert.ok(Date.now() - started >= 300, 'the scan outlasted spamd.timeout');
  assert.equal(http.status, 200);
  assert.equal(typeof http.json.score, 'number');
  const body = message('x');
  const legacy = await raw(gw.scanHttpPort, [`CHECK RSPAMC/1.3\r\nContent-length: ${body.length}\r\nIP: 192.0.2.10\r\nHelo: mail.slow.example\r\nFrom: <alice@slow.example>\r\n\r\n${body}`]);
  assert.match(legacy, /^RSPAMD\/1\.3 0 EX_OK\r\nMetric: default; /);
});

test('a client that shuts down its sending side after the request (as Exim does) still gets the answer, HTTP and legacy', async (t) => {
  const gw = await start(t);
  const body = message('REJECT-MARKER');
  const http = await raw(gw.scanHttpPort, [`POST /checkv2 HTTP/1.1\r\nHost: x\r\nIP: 198.51.100.7\r\nContent-Length: ${body.length}\r\n\r\n${body}`], { end: true });
  assert.match(http, /^HTTP\/1\.1 200 [^]*"action":"reject"/);
  const legacy = await raw(gw.scanHttpPort, [`CHECK RSPAMC/1.3\r\nContent-length: ${body.length}\r\n\r\n${body}`], { end: true });
  assert.match(legacy, /^RSPAMD\/1\.3 0 EX_OK\r\n[^]*Action: reject/);
});

test('a client that closes during its scan does not free its max_connections slot before the scan ends', async (t) => {
  const gw = await start(t, { max_connections: 1 }, { checks: { disabled: DNS_CHECKS.filter((c) => c !== 'spf'), timeout: '2s' }, dns: { timeout: '800ms', retries: 0 } }, { 'slow.example': 'TIMEOUT' });
  const body = message('x');
  // the request, then the connection closed at once: the scan (SPF waits on the DNS) runs on
  const gone = net.connect(gw.scanHttpPort, '127.0.0.1', () => {
    gone.end(`POST /checkv2 HTTP/1.1\r\nHost: x\r\nIP: 192.0.2.10\r\nFrom: alice@slow.example\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    setTimeout(() => gone.destroy(), 100);
  });
  await new Promise((r) => gone.on('close', r));
  assert.match(await raw(gw.scanHttpPort, ['GET /ping HTTP/1.1\r\nHost: x\r\n\r\n']), /^HTTP\/1\.1 503 /);
  // once the scan has ended (its transaction logged), the slot is free
  for (let i = 0; i < 100 && gw.transactions().length === 0; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(gw.transactions().length, 1);
  assert.equal(await (await fetch(`http://127.0.0.1:${gw.scanHttpPort}/ping`)).text(), 'pong\r\n');
});

test('spamd listener: a client that closes during its scan does not free its max_connections slot before the scan ends', async (t) => {
  const gw = await start(t, { max_connections: 1 }, { checks: { disabled: DNS_CHECKS.filter((c) => c !== 'spf'), timeout: '2s' }, dns: { timeout: '800ms', retries: 0 } }, { 'slow.example': 'TIMEOUT' });
  const port = gw.spamdPort ?? 0;
  // the envelope comes from the topmost Received and the Return-Path above it: SPF of slow.example waits on the DNS
  const body = `Return-Path: <alice@slow.example>\r\nReceived: from mail.slow.example (mail.slow.example [192.0.2.10])\r\n\tby mx.example.test (Postfix) with ESMTP id 1;\r\n\tSun, 22 Nov 2026 00:00:00 +0000\r\n${message('x')}`;
  const gone = net.connect(port, '127.0.0.1', () => {
    gone.end(`CHECK SPAMC/1.5\r\nContent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    setTimeout(() => gone.destroy(), 100);
  });
  await new Promise((r) => gone.on('close', r));
  assert.match(await raw(port, ['PING SPAMC/1.5\r\n\r\n']), /^SPAMD\/1\.\d 75 /);
  // once the scan has ended (its transaction logged), the slot is free
  for (let i = 0; i < 100 && gw.transactions().length === 0; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(gw.transactions().length, 1);
  // its answer then goes nowhere and the connection closes: the slot is free within moments
  let pong = '';
  for (let i = 0; i < 40 && !/PONG/.test(pong); i++) {
    pong = await raw(port, ['PING SPAMC/1.5\r\n\r\n']);
    if (!/PONG/.test(pong)) await new Promise((r) => setTimeout(r, 50));
  }
  assert.match(pong, /PONG/);
});

test('/checkv2 for an authenticated sender (User) with an unfoldable 1,200-octet header line: scanned, not refused (a scan mends nothing)', async (t) => {
  const gw = await start(t);
  const res = await check(gw, message('long', `X-Token: ${'t'.repeat(1200)}\r\n`), { User: 'alice', IP: '198.51.100.7', From: 'news@sender.example', Rcpt: 'user@example.test' });
  assert.equal(res.status, 200, JSON.stringify(res.json));
  assert.equal(typeof res.json.action, 'string');
});
