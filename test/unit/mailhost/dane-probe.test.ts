// The start-up DNSSEC probe of outbound.dane over a real socket: the root NS RRset asked with AD of a dns2 stand-in
// for the resolver; a validating answer, one without AD and a SERVFAIL are told apart, and openDane logs the result.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { configSchema } from '../../../src/config/schema.ts';
import { createSecureDns } from '../../../src/dns/secure-dns.ts';
import { parseNameServer } from '../../../src/dns/servers.ts';
import { openDane, probeValidation } from '../../../src/mailhost/dane-setup.ts';
import { capturingLogger } from '../../helpers/capture-logs.ts';
import { startDnssecDns, type DnssecEntry } from '../../helpers/dnssec-dns.ts';

async function resolverWithRoot(t: TestContext, root: DnssecEntry | undefined) {
  const dns = await startDnssecDns(root ? { '.': root } : {});
  t.after(() => dns.close());
  const server = parseNameServer(dns.server);
  assert.ok(server);
  return { dns, secure: createSecureDns({ servers: [server], timeoutMs: 500, retries: 0 }) };
}

test('the probe: AD on the root NS answer is a validating resolver; no AD is not; SERVFAIL is no answer', async (t) => {
  const good = await resolverWithRoot(t, { records: [] });
  assert.equal(await probeValidation(good.secure), 'validating');
  assert.deepEqual(good.dns.log, [{ name: '', type: 'NS', ad: true }], 'the root, NS, asked with AD');
  assert.equal(await probeValidation((await resolverWithRoot(t, { records: [], insecure: true })).secure), 'not_validating');
  assert.equal(await probeValidation((await resolverWithRoot(t, { records: [], servfail: ['NS'] })).secure), 'no_answer');
});

test('openDane probes at start and warns when the resolver does not validate', async (t) => {
  const { dns } = await resolverWithRoot(t, { records: [], insecure: true });
  const { log, logs } = capturingLogger('debug');
  const config = configSchema.parse({ outbound: { dane: 'on' }, dns: { servers: [dns.server], timeout: '500ms', retries: 0 } });
  assert.ok(openDane(config, log));
  for (let i = 0; i < 100 && !logs.some((l) => /DNSSEC|validate/.test(String(l.msg))); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(logs.some((l) => l.level === 'warn' && /does not validate/.test(String(l.msg))), JSON.stringify(logs));
  assert.equal(openDane(configSchema.parse({ dns: { servers: [dns.server] } }), log), undefined, 'dane off: no probe, no look-ups');
  assert.equal(dns.log.length, 1);
});
