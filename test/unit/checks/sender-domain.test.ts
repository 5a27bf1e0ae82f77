// The MAIL FROM domain check over the real Resolver and the dns2 test server: null MX, a domain that
// does not exist, one that exists without MX, DNS trouble, and what is not looked up at all.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createSenderDomainCheck } from '../../../src/checks/sender-domain.ts';
import { createResolver } from '../../../src/dns/dns2-resolver.ts';
import { startDnsServer } from '../../helpers/dns-server.ts';
import { makeContext } from './dns-context.ts';

test('sender domain: null MX, NXDOMAIN, no MX but an address, MX, temperror; null sender and literals skipped', async (t) => {
  const dns = await startDnsServer({
    'nomail.test': [{ MX: [0, '.'] }],
    'mx.test': [{ MX: [10, 'mail.mx.test'] }],
    'mail.mx.test': [{ A: '192.0.2.1' }],
    'aonly.test': [{ A: '192.0.2.2' }],
    'slow.test': 'TIMEOUT',
  });
  t.after(() => dns.close());
  // 1 s: long enough that a loaded machine's first answer is not taken for the timeout only slow.test is meant to give
  const check = createSenderDomainCheck(createResolver({ servers: [dns.server], timeoutMs: 1000, retries: 0 }));
  assert.equal(check.skipTrusted, undefined, 'trusted and authenticated clients are skipped (the runner default)');
  const symbols = async (mailFrom: string): Promise<string[]> => (await check.run(makeContext('mail', {}, { mailFrom }))).map((h) => h.symbol);
  assert.deepEqual(await symbols('a@nomail.test'), ['FROM_NULL_MX']);
  assert.deepEqual(await symbols('a@NoMail.Test.'), ['FROM_NULL_MX'], 'case and a trailing dot do not matter');
  assert.deepEqual(await symbols('a@nowhere.test'), ['FROM_DOMAIN_NXDOMAIN']);
  assert.deepEqual(await symbols('a@aonly.test'), [], 'no MX but an address: the implicit MX takes bounces');
  assert.deepEqual(await symbols('a@mx.test'), []);
  assert.deepEqual(await symbols('a@slow.test'), ['FROM_DOMAIN_TEMPERROR']);
  assert.deepEqual(await symbols(''), [], 'the null sender');
  assert.deepEqual(await symbols('a@[192.0.2.1]'), [], 'an address literal');
  assert.deepEqual(await symbols('a@localhost'), [], 'a single label');
  assert.equal(dns.count('localhost') + dns.count('[192.0.2.1]') + dns.count('192.0.2.1'), 0, 'none of those was looked up');
});
