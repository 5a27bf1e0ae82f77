// ARC (RFC 8617) end to end over real sockets: an alias forward to another domain leaves with an ARC set sealed by
// the forwarding domain's DKIM key (i=1 cv=none, its AAR holding the SPF pass spamgate saw), on top of a valid chain
// as i=2 cv=pass, on a broken chain as cv=fail, not at all with arc.seal off; a DMARC p=reject failure on a message
// sealed by a trusted sealer (arc.trusted_sealers) is accepted and reported as a trusted_forwarder override; a Sieve
// redirect is sealed like an alias forward.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import type { ARCData } from 'mailauth';
import { arc } from 'mailauth/lib/arc/index.js';
import { sealMessage } from 'mailauth/lib/arc/index.js';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { createResolver } from '../../src/dns/dns2-resolver.ts';
import { toMailauthResolver } from '../../src/dns/mailauth-resolver.ts';
import { keygen } from '../helpers/dkim-keys.ts';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { startSink, type SinkMessage, type SinkServer } from '../helpers/sink-server.ts';
import { sendMessage } from '../helpers/smtp-wire.ts';
import { writeSieveScript } from '../../src/mailhost/sieve-scripts.ts';
import { tempDir } from '../helpers/temp-dir.ts';

interface Keys {
  dir: string;
  fwd: { file: string; name: string; record: string };
  list: { file: string; name: string; record: string };
}

async function makeKeys(t: TestContext): Promise<Keys> {
  const dir = tempDir(t, 'spamgate-arc-');
  return { dir, fwd: await keygen(dir, 'fwd.example', 'arc1'), list: await keygen(dir, 'lists.example', 'l1') };
}

function zonesOf(k: Keys) {
  return {
    'remote.example': [{ MX: [10, 'mx.remote.example'] as [number, string] }],
    'mx.remote.example': [{ A: '127.0.0.1' }],
    'sender.example': [{ TXT: 'v=spf1 ip4:127.0.0.1 -all' }],
    'lists.example': [{ TXT: 'v=spf1 ip4:127.0.0.1 -all' }],
    '_dmarc.strict.example': [{ TXT: 'v=DMARC1; p=reject' }],
    [k.fwd.name]: [{ TXT: k.fwd.record }],
    [k.list.name]: [{ TXT: k.list.record }],
  };
}

async function setup(t: TestContext, k: Keys, arcConfig: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<{ gw: RunningGateway; sink: SinkServer }> {
  const sink = await startSink();
  t.after(() => sink.close());
  const gw = await startGateway(
    t,
    {
      smtp: { trusted_networks: [] },
      local_domains: ['localhost', 'fwd.example'],
      aliases: { 'team@fwd.example': ['carol@remote.example'] },
      outbound: { port: sink.port },
      dkim: { sign: [{ domain: 'fwd.example', selector: 'arc1', key: k.fwd.file }] },
      arc: arcConfig,
      ...extra,
    },
    { zones: zonesOf(k) },
  );
  return { gw, sink };
}

const message = (from: string, subject: string, body = 'hello team'): string => `From: <${from}>\r\nTo: <team@fwd.example>\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@x>\r\nDate: Mon, 04 May 2026 12:00:00 +0000\r\n\r\n${body}\r\n`;

/** A message sealed by lists.example (i=1 cv=none) with the results the list says it saw. */
async function listSealed(k: Keys, raw: string, authResults: string): Promise<string> {
  const sealed = await sealMessage(Buffer.from(raw), { signingDomain: 'lists.example', selector: 'l1', privateKey: readFileSync(k.list.file), authResults, cv: 'none' });
  assert.ok(sealed.length > 0, 'the list sealed');
  return sealed.toString() + raw;
}

async function forward(gw: RunningGateway, sink: SinkServer, mailFrom: string, raw: string, subject: string): Promise<SinkMessage> {
  const before = sink.messages.length;
  const r = await sendMessage(gw.smtpPort, mailFrom, ['team@fwd.example'], raw);
  assert.equal(r.data?.code, 250, JSON.stringify(r.replies));
  await sink.waitForMessages(before + 1, 20_000);
  const copy = sink.messages.slice(before).find((m) => m.rcptTo.includes('carol@remote.example') && m.raw.toString().includes(`Subject: ${subject}`));
  assert.ok(copy, 'the remote member got a copy');
  return copy;
}

/** The receiver's view: mailauth's ARC validation with keys from the test DNS. */
async function validate(gw: RunningGateway, raw: Buffer): Promise<{ result: string; i: number | false }> {
  const resolver = toMailauthResolver(createResolver({ servers: [gw.dns.server], timeoutMs: 500, retries: 0 }));
  const dkim = await dkimVerify(raw, { resolver });
  assert.ok(dkim.arc, 'ARC data parsed');
  const r = await arc(dkim.arc as unknown as ARCData, { resolver });
  return { result: r.status.result, i: r.i };
}

/** The unfolded ARC header fields of instance i, by name. */
function arcSet(raw: Buffer, i: number): Record<string, string> {
  const head = raw.toString('latin1').split('\r\n\r\n')[0]?.replace(/\r\n[ \t]+/g, ' ') ?? '';
  const out: Record<string, string> = {};
  for (const line of head.split('\r\n')) {
    const m = /^(ARC-Seal|ARC-Message-Signature|ARC-Authentication-Results):\s*(.*)$/i.exec(line);
    if (m && new RegExp(`(^|;|\\s)i=${i}(;|$)`).test(m[2] ?? '')) out[(m[1] ?? '').toLowerCase()] = m[2] ?? '';
  }
  return out;
}

test('an alias forward is ARC-sealed i=1 cv=none by the forwarding domain; its AAR holds the SPF pass spamgate saw', async (t) => {
  const k = await makeKeys(t);
  const { gw, sink } = await setup(t, k, { seal: true });
  const copy = await forward(gw, sink, 'alice@sender.example', message('alice@sender.example', 'sealed one'), 'sealed one');
  assert.match(copy.mailFrom, /^SRS0=/, 'SRS rewrote the sender (SPF of the original domain breaks)');
  const set = arcSet(copy.raw, 1);
  assert.match(set['arc-seal'] ?? '', /\bcv=none\b/);
  assert.match(set['arc-seal'] ?? '', /\bd=fwd\.example\b/);
  assert.match(set['arc-seal'] ?? '', /\bs=arc1\b/);
  assert.match(set['arc-authentication-results'] ?? '', /^i=1; mx\.test\.example;/);
  assert.match(set['arc-authentication-results'] ?? '', /spf=pass [^;]*smtp\.mailfrom=[^;]*sender\.example/);
  assert.deepEqual(await validate(gw, copy.raw), { result: 'pass', i: 1 });
  const metrics = await (await fetch(`http://127.0.0.1:${gw.httpPort ?? 0}/metrics`)).text();
  assert.match(metrics, /^spamgate_arc_sealed_total\{result="cv_none"\} 1$/m);
});

test('on top of a valid chain the seal is i=2 cv=pass; a broken chain is sealed cv=fail (and validates as fail)', async (t) => {
  const k = await makeKeys(t);
  const { gw, sink } = await setup(t, k, { seal: true });
  const listAr = 'lists.example; spf=pass smtp.mailfrom=alice@sender.example';
  const chained = await listSealed(k, message('alice@sender.example', 'chain two'), listAr);
  assert.deepEqual(await validate(gw, Buffer.from(chained)), { result: 'pass', i: 1 }, 'the fixture chain is valid');
  const copy = await forward(gw, sink, 'bounce@lists.example', chained, 'chain two');
  assert.match(arcSet(copy.raw, 2)['arc-seal'] ?? '', /\bcv=pass\b/);
  assert.match(arcSet(copy.raw, 2)['arc-authentication-results'] ?? '', /\barc=pass\b/);
  assert.deepEqual(await validate(gw, copy.raw), { result: 'pass', i: 2 });

  // the body changed after the list sealed it: its ARC-Message-Signature no longer verifies
  const broken = (await listSealed(k, message('alice@sender.example', 'chain broken'), listAr)).replace('hello team', 'hello tampered team');
  const bad = await forward(gw, sink, 'bounce@lists.example', broken, 'chain broken');
  const seal2 = arcSet(bad.raw, 2)['arc-seal'] ?? '';
  assert.match(seal2, /\bcv=fail\b/);
  assert.match(seal2, /\bd=fwd\.example\b/);
  assert.equal((await validate(gw, bad.raw)).result, 'fail');
  const metrics = await (await fetch(`http://127.0.0.1:${gw.httpPort ?? 0}/metrics`)).text();
  assert.match(metrics, /^spamgate_arc_sealed_total\{result="cv_pass"\} 1$/m);
  assert.match(metrics, /^spamgate_arc_sealed_total\{result="cv_fail"\} 1$/m);
});

test('arc.seal off (the default): a forwarded copy carries no ARC set', async (t) => {
  const k = await makeKeys(t);
  const { gw, sink } = await setup(t, k, {});
  const copy = await forward(gw, sink, 'alice@sender.example', message('alice@sender.example', 'unsealed'), 'unsealed');
  assert.doesNotMatch(copy.raw.toString('latin1').split('\r\n\r\n')[0] ?? '', /^ARC-/im);
});

test('DMARC p=reject failure sealed by lists.example: accepted when it is a trusted sealer (reported as trusted_forwarder), rejected when not', async (t) => {
  const k = await makeKeys(t);
  // what the list saw before it changed the subject: strict.example passed DMARC there
  const listAr = 'lists.example; dkim=pass header.d=strict.example header.s=s1; dmarc=pass header.from=strict.example';
  const send = async (gw: RunningGateway, subject: string, ar = listAr) => {
    const raw = await listSealed(k, message('ceo@strict.example', `[list] ${subject}`), ar);
    return (await sendMessage(gw.smtpPort, 'bounce@lists.example', ['postmaster@localhost'], raw)).data?.code;
  };
  const untrusted = await setup(t, k, {});
  assert.equal(await send(untrusted.gw, 'not trusted'), 550, 'DMARC p=reject applies');

  const { gw } = await setup(t, k, { trusted_sealers: ['lists.example'] }, { dmarc_reports: { enabled: true, org_name: 'Test Org', email: 'dmarc-reports@test.example' } });
  assert.equal(await send(gw, 'trusted'), 250, 'the trusted sealer vouches for strict.example');
  // the sealer's own results must pass for the From domain
  assert.equal(await send(gw, 'trusted but failed there', 'lists.example; dkim=fail header.d=strict.example; dmarc=fail header.from=strict.example'), 550);
  const tx = gw.transactions().find((l) => JSON.stringify(l).includes('ARC_TRUSTED_OVERRIDE'));
  assert.ok(tx, 'the transaction log names ARC_TRUSTED_OVERRIDE');
  assert.doesNotMatch(JSON.stringify(tx), /DMARC_FAIL_REJECT/);
  const metrics = await (await fetch(`http://127.0.0.1:${gw.httpPort ?? 0}/metrics`)).text();
  assert.match(metrics, /^spamgate_arc_trusted_overrides_total\{method="dmarc"\} 1$/m);
  await gw.app.stop(2000);
  const counters = JSON.parse(readFileSync(path.join(gw.dataDir, 'dmarc-reports.json'), 'utf8')) as { days: Record<string, Record<string, { rows: Array<{ disposition: string; reason?: unknown }> }>> };
  const rows = Object.values(counters.days).flatMap((d) => d['strict.example']?.rows ?? []).map((r) => [r.disposition, r.reason]);
  assert.deepEqual(rows.sort(), [
    ['none', { type: 'trusted_forwarder', comment: 'arc=pass i=1 sealer=lists.example dmarc=pass' }],
    ['reject', undefined],
  ]);
});

test('a Sieve redirect is sealed too, by arc.seal_domain when the user\'s own domain has no key', async (t) => {
  const k = await makeKeys(t);
  const { gw, sink } = await setup(t, k, { seal: true, seal_domain: 'fwd.example' });
  writeSieveScript(gw.dataDir, 'postmaster@localhost', 'redirect "dave@remote.example";\n');
  const before = sink.messages.length;
  const r = await sendMessage(gw.smtpPort, 'alice@sender.example', ['postmaster@localhost'], message('alice@sender.example', 'redirected'));
  assert.equal(r.data?.code, 250, JSON.stringify(r.replies));
  await sink.waitForMessages(before + 1, 20_000);
  const copy = sink.messages.slice(before).find((m) => m.rcptTo.includes('dave@remote.example'));
  assert.ok(copy, 'the redirect reached dave');
  const set = arcSet(copy.raw, 1);
  assert.match(set['arc-seal'] ?? '', /\bd=fwd\.example\b/);
  assert.match(set['arc-authentication-results'] ?? '', /spf=pass [^;]*sender\.example/);
  assert.deepEqual(await validate(gw, copy.raw), { result: 'pass', i: 1 });
});
