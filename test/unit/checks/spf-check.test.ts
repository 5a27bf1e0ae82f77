// The SPF checks over the real Resolver and the dns2 test server: symbols, Received-SPF, results for DMARC.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createSpfChecks, SPF_RESULT_KEY } from '../../../src/checks/spf.ts';
import { createResolver } from '../../../src/dns/dns2-resolver.ts';
import type { SpfOutcome } from '../../../src/dns/spf.ts';
import { startDnsServer } from '../../helpers/dns-server.ts';
import { makeContext } from './dns-context.ts';

async function setup(t: { after(fn: () => Promise<void>): void }) {
  const dns = await startDnsServer({
    'pass.test': [{ TXT: 'v=spf1 ip4:192.0.2.0/24 -all' }],
    'fail.test': [{ TXT: 'v=spf1 -all exp=why.fail.test' }],
    'why.fail.test': [{ TXT: 'Not authorised: %{i}' }],
    'soft.test': [{ TXT: 'v=spf1 ~all' }],
    'perm.test': [{ TXT: 'v=spf1 include:nothing.test -all' }],
    'temp.test': 'TIMEOUT',
    'mail.sender.test': [{ TXT: 'v=spf1 a -all' }, { A: '192.0.2.10' }],
  });
  t.after(() => dns.close());
  // 1.5 s: long enough that a loaded machine's answer is not taken for the timeout only temp.test is meant to give
  const resolver = createResolver({ servers: [dns.server], timeoutMs: 1500, retries: 0 });
  const [mailCheck, heloCheck] = createSpfChecks({ resolver, hostname: 'mx.receiver.test' });
  return { mailCheck: mailCheck!, heloCheck: heloCheck! };
}

test('MAIL FROM results map to SPF_* symbols', async (t) => {
  const { mailCheck } = await setup(t);
  const cases: Array<[string, string]> = [
    ['a@pass.test', 'SPF_PASS'],
    ['a@fail.test', 'SPF_FAIL'],
    ['a@soft.test', 'SPF_SOFTFAIL'],
    ['a@perm.test', 'SPF_PERMERROR'],
    ['a@temp.test', 'SPF_TEMPERROR'],
    ['a@absent.test', 'SPF_NONE'],
  ];
  for (const [from, symbol] of cases) {
    const ctx = makeContext('mail', {}, { mailFrom: from });
    const hits = await mailCheck.run(ctx);
    assert.equal(hits[0]?.symbol, symbol, from);
    const out = ctx.results.get(SPF_RESULT_KEY) as SpfOutcome;
    assert.equal(out.identity, 'mailfrom');
    assert.equal(ctx.headers[0]?.[0], 'Received-SPF');
  }
});

test('fail carries the exp= explanation and a Received-SPF field (RFC 7208 §9.1)', async (t) => {
  const { mailCheck } = await setup(t);
  const ctx = makeContext('mail', {}, { mailFrom: 'a@fail.test' });
  const hits = await mailCheck.run(ctx);
  assert.deepEqual(hits[0]?.options, ['fail.test', 'Not authorised: 192.0.2.10']);
  const header = ctx.headers[0]?.[1] ?? '';
  assert.match(header, /^fail \(.+\) client-ip=192\.0\.2\.10; envelope-from=a@fail\.test; helo=mail\.sender\.test; receiver=mx\.receiver\.test; identity=mailfrom;$/);
  assert.equal((ctx.results.get(SPF_RESULT_KEY) as SpfOutcome).authResults, 'spf=fail smtp.mailfrom=fail.test');
});

test('the null sender is checked with the HELO identity; HELO check is its own symbol family', async (t) => {
  const { mailCheck, heloCheck } = await setup(t);
  const ctx = makeContext('mail', {}, { mailFrom: '' });
  assert.equal((await mailCheck.run(ctx))[0]?.symbol, 'SPF_PASS');
  assert.equal((ctx.results.get(SPF_RESULT_KEY) as SpfOutcome).identity, 'helo');
  assert.equal((await heloCheck.run(makeContext('helo')))[0]?.symbol, 'SPF_HELO_PASS');
  assert.equal((await heloCheck.run(makeContext('helo', { clientIp: '198.51.100.1' })))[0]?.symbol, 'SPF_HELO_FAIL');
  assert.deepEqual(await heloCheck.run(makeContext('helo', { helo: '[192.0.2.10]' })), [], 'address literal: no HELO check');
});

test('an aborted check signal gives temperror at once, never a hang', async (t) => {
  const { mailCheck } = await setup(t);
  const ac = new AbortController();
  const pending = mailCheck.run(makeContext('mail', {}, { mailFrom: 'a@temp.test' }, { signal: ac.signal }));
  ac.abort();
  assert.equal((await pending)[0]?.symbol, 'SPF_TEMPERROR');
});
