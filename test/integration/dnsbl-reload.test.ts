// spamgate_dnsbl_list_up across config reloads: no series before a list's first health check (RFC 5782
// §5 test points), none for a list disabled or removed by a reload, and a list whose definition is
// unchanged keeps its known state over a reload (not reset to up, not probed again).
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { SHIPPED_RULES_DIR } from '../../src/config/load.ts';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { SmtpWire } from '../helpers/smtp-wire.ts';

const list = (name: string, zone: string, enabled = true): string => `  ${name}:
    zone: ${zone}
    kind: ip
    enabled: ${enabled}
    codes:
      127.0.0.2: DNSBL_T_LISTED
`;
const rules = (lists: string, comment = ''): string => `${comment}dnsbl:
${lists}symbols:
  DNSBL_T_LISTED:
    weight: 1
    description: test list, listed
`;

/** An untrusted client (XCLIENT from loopback) up to MAIL FROM: the connect-phase DNSBL lookups run. */
async function untrustedSession(t: TestContext, port: number): Promise<void> {
  const { wire } = await SmtpWire.open(port);
  t.after(() => wire.close());
  await wire.command('EHLO proxy.test');
  assert.equal((await wire.command('XCLIENT ADDR=192.0.2.10 NAME=[UNAVAILABLE]')).code, 220);
  await wire.command('EHLO client.example');
  await wire.command('MAIL FROM:<a@client.example>');
  await wire.command('QUIT').catch(() => undefined);
}

async function listUp(gw: RunningGateway): Promise<Record<string, number>> {
  const text = await gw.app.registry.metrics();
  return Object.fromEntries([...text.matchAll(/^spamgate_dnsbl_list_up\{list="([^"]+)"\} (\S+)$/gm)].map((m) => [m[1] as string, Number(m[2])]));
}

test('dnsbl_list_up: unset until checked, kept over a reload that leaves the list alone, gone with the list', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'spamgate-dnsbl-reload-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'zz-lists.yaml');
  await writeFile(file, rules(list('deadbl', 'dead.test') + list('livebl', 'live.test')));
  const gw = await startGateway(
    t,
    { rules_dirs: [SHIPPED_RULES_DIR, dir], smtp: { xclient_from: ['127.0.0.1/32'] } },
    // live.test answers its test points (RFC 5782 §5); dead.test answers nothing (NXDOMAIN): dead
    { zones: { '2.0.0.127.live.test': [{ A: '127.0.0.2' }] } },
  );
  const failedChecks = (): number => gw.logs.filter((l) => l.msg === 'dnsbl list failed its health check; skipped' && l.list === 'deadbl').length;

  assert.deepEqual(await listUp(gw), {}, 'no list is called up before its first health check');
  await untrustedSession(t, gw.smtpPort);
  assert.deepEqual(await listUp(gw), { deadbl: 0, livebl: 1 });
  assert.equal(failedChecks(), 1);

  // a reload that does not change the lists (a comment) keeps what is known, and does not probe again
  await writeFile(file, rules(list('deadbl', 'dead.test') + list('livebl', 'live.test'), '# edited\n'));
  assert.equal(gw.app.reload().ok, true);
  assert.deepEqual(await listUp(gw), { deadbl: 0, livebl: 1 });
  await untrustedSession(t, gw.smtpPort);
  assert.equal(failedChecks(), 1, 'the dead list was not probed again');

  // disabled and renamed: the old series go; the new name has none until it is checked
  await writeFile(file, rules(list('deadbl', 'dead.test', false) + list('newbl', 'live.test')));
  assert.equal(gw.app.reload().ok, true);
  assert.deepEqual(await listUp(gw), {});
  await untrustedSession(t, gw.smtpPort);
  assert.deepEqual(await listUp(gw), { newbl: 1 });

  // a reload that fails keeps the running lists on the gauge
  await writeFile(path.join(dir, 'zz-broken.yaml'), 'symbols: [not a map\n');
  assert.equal(gw.app.reload().ok, false);
  assert.deepEqual(await listUp(gw), { newbl: 1 });
});
