// Quarantine digests end to end in full-stack mode: two messages quarantined for alice and one (shared) for bob,
// one for an outside address; `spamgate quarantine digest --now` (a real process, the instance running) has one
// digest delivered to each local user's INBOX and none sent outside; the links from alice's digest, fetched over
// HTTP: a GET shows a form and releases nothing, the POST releases to alice alone (bob's copy stays held), a second
// POST says already done, forged and expired tokens are refused, delete works; a restarted digest round sends
// nothing again; the metrics counted it all. In front-of mode, a user's sub-addresses share the digest of the
// address without them (mailhost.subaddress_delimiter), handed to the upstream.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import PostalMime from 'postal-mime';
import { SHIPPED_RULES_DIR } from '../../src/config/load.ts';
import { createRegistry } from '../../src/metrics/registry.ts';
import { createDigestRunner } from '../../src/quarantine/digest.ts';
import { digestStateFile } from '../../src/quarantine/digest-state.ts';
import { readQuarantined } from '../../src/quarantine/format.ts';
import { LINK_SECRET_FILE } from '../../src/quarantine/link-secret.ts';
import { createLinkTokens } from '../../src/quarantine/link-token.ts';
import type { MessageSink } from '../../src/queue/types.ts';
import { systemClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { runCli } from '../helpers/cli-process.ts';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { maildirMessages } from '../helpers/maildir.ts';
import { DNS_CHECKS, msg, quarantineRules } from '../helpers/quarantine-rules.ts';
import { startSink } from '../helpers/sink-server.ts';
import { sendMessage } from '../helpers/smtp-wire.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { usersCliFor } from '../helpers/users-cli.ts';

const ALICE = 'alice@corp.example';
const BOB = 'bob@corp.example';
const inbox = (gw: RunningGateway, user: string): string[] => maildirMessages(gw.dataDir, '', user, 'corp.example');

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !ok(); i++) await new Promise((resolve) => setTimeout(resolve, 25));
  assert.ok(ok(), what);
}

async function metric(gw: RunningGateway, name: string, labels: string): Promise<number | undefined> {
  const line = (await gw.app.registry.metrics()).split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

test('digests to local recipients with links that release and delete one recipient\'s copy', async (t) => {
  const dir = tempDir(t, 'spamgate-qdigest-');
  const configFile = path.join(dir, 'spamgate.yaml');
  const gw = await startGateway(
    t,
    {
      local_domains: ['localhost', 'corp.example'],
      mailhost: { watch_files: false },
      queue: { retry_initial: '200ms', retry_max: '400ms', scan_interval: '100ms' },
      quarantine: { digest: { enabled: true, base_url: 'https://gw.example.com:9465', max_items: 10 } },
      rules_dirs: [SHIPPED_RULES_DIR, quarantineRules(t)],
      bayes: { enabled: false },
      smtp: { trusted_networks: [] },
      checks: { disabled: DNS_CHECKS },
    },
    { configFile },
  );
  const users = usersCliFor(gw, configFile);
  for (const u of [ALICE, BOB]) assert.equal((await users(['add', u, '--password-stdin'], 'a-password\n')).code, 0);

  const both = await sendMessage(gw.smtpPort, 'a@remote.example', [ALICE, BOB], msg('QUARANTINE-ME shared', ALICE));
  assert.equal(both.data?.code, 250, JSON.stringify(both.replies));
  const sharedId = /queued as (\S+)/.exec(both.data?.text ?? '')?.[1] ?? '';
  const encoded = `=?UTF-8?B?${Buffer.from('QUARANTINE-ME <b>Grüße</b>').toString('base64')}?=`;
  const second = await sendMessage(gw.smtpPort, 'b@remote.example', [ALICE], msg(encoded, ALICE));
  assert.equal(second.data?.code, 250);
  const aliceOnlyId = /queued as (\S+)/.exec(second.data?.text ?? '')?.[1] ?? '';
  // held for an address outside local_domains (as a message relayed for a trusted client would be)
  const q = gw.app.components.quarantine;
  assert.ok(q);
  await q.store({ mailFrom: 'c@remote.example', rcptTo: ['carol@outside.example'], sessionId: 's', clientIp: '127.0.0.1', receivedAt: Date.now(), quarantine: { score: 12, decidedBy: 'test', symbols: [] } }, Buffer.from('Subject: outside\r\n\r\nx\r\n'));
  const secret = readFileSync(path.join(gw.dataDir, LINK_SECRET_FILE), 'utf8');
  assert.ok(secret.trim().length >= 16, 'the link secret made at start');

  const dry = await runCli(['quarantine', 'digest', '--dry-run', '--config', configFile, '--data-dir', gw.dataDir], { timeoutMs: 60_000 });
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^To: alice@corp\.example$/m);
  assert.match(dry.stdout, /^2 digest\(s\) would be sent$/m);
  assert.equal(inbox(gw, 'alice').length, 0, 'a dry run sends nothing');
  const ran = await runCli(['quarantine', 'digest', '--now', '--config', configFile, '--data-dir', gw.dataDir], { timeoutMs: 60_000 });
  assert.equal(ran.code, 0, ran.stderr);
  assert.match(ran.stdout, /^digest --now: done by running instance/);
  await until('a digest in each INBOX', () => inbox(gw, 'alice').length === 1 && inbox(gw, 'bob').length === 1);
  assert.equal(inbox(gw, 'alice').length, 1, 'nothing released by the round');
  const raw = inbox(gw, 'alice')[0] ?? '';
  assert.match(raw, /^Auto-Submitted: auto-generated$/m);
  assert.match(raw, /^From: <postmaster@mx\.test\.example>$/m);
  const digest = await PostalMime.parse(raw);
  const text = digest.text ?? '';
  assert.match(text, /Subject: QUARANTINE-ME <b>Grüße<\/b>/);
  assert.match(text, /Subject: QUARANTINE-ME shared/);
  assert.ok(text.indexOf('Grüße') < text.indexOf('shared'), 'newest first');
  assert.match(digest.html ?? '', /QUARANTINE-ME &lt;b&gt;Grüße&lt;\/b&gt;/);
  const bobText = (await PostalMime.parse(inbox(gw, 'bob')[0] ?? '')).text ?? '';
  assert.match(bobText, /QUARANTINE-ME shared/);
  assert.doesNotMatch(bobText, /Grüße/);
  assert.equal(await metric(gw, 'spamgate_quarantine_digests_total', '{result="sent"}'), 2);
  assert.equal(await metric(gw, 'spamgate_quarantine_digests_total', '{result="not_local"}'), 1, 'none for carol@outside.example');

  // the links of alice's digest, in digest order (newest first): the encoded one, then the shared one
  const tokens = [...text.matchAll(/Release: https:\/\/gw\.example\.com:9465\/quarantine\/release\?t=([A-Za-z0-9_.-]+)/g)].map((m) => m[1] ?? '');
  assert.equal(tokens.length, 2);
  const [, sharedToken = ''] = tokens;
  // each link's token is made for its own action: the delete link's, not the release link's
  const aliceOnlyToken = /Delete: {2}https:\/\/gw\.example\.com:9465\/quarantine\/delete\?t=([A-Za-z0-9_.-]+)/.exec(text)?.[1] ?? '';
  const base = `http://127.0.0.1:${gw.httpPort ?? 0}/quarantine`;
  const post = (action: string, token: string): Promise<Response> => fetch(`${base}/${action}`, { method: 'POST', body: new URLSearchParams({ t: token }) });

  const shown = await fetch(`${base}/release?t=${sharedToken}`);
  assert.equal(shown.status, 200);
  const form = await shown.text();
  assert.match(form, /<form method="post" action="release">/);
  assert.match(form, /QUARANTINE-ME shared/);
  assert.equal(shown.headers.get('cache-control'), 'no-store');
  assert.equal(shown.headers.get('referrer-policy'), 'no-referrer');
  const file = path.join(gw.dataDir, 'quarantine', `${sharedId}.msg`);
  assert.deepEqual((await readQuarantined(file)).envelope.rcptTo, [ALICE, BOB], 'a GET released nothing');

  const released = await post('release', sharedToken);
  assert.equal(released.status, 200);
  assert.match(await released.text(), /Message released/);
  await until('the shared message in alice\'s INBOX', () => inbox(gw, 'alice').some((m) => /^Subject: QUARANTINE-ME shared$/m.test(m)));
  assert.deepEqual((await readQuarantined(file)).envelope.rcptTo, [BOB], 'bob\'s copy still held');
  assert.equal(inbox(gw, 'bob').length, 1, 'bob got nothing but his digest');
  const again = await post('release', sharedToken);
  assert.equal(again.status, 410);
  assert.match(await again.text(), /Already done/);
  assert.equal((await fetch(`${base}/release?t=${sharedToken}`)).status, 410, 'the page says so too');

  // forged: the MAC changed; expired: signed with the real secret, expiry past
  const forged = `${sharedToken.slice(0, -2)}${sharedToken.endsWith('AA') ? 'BB' : 'AA'}`;
  assert.equal((await post('release', forged)).status, 403);
  const bobToken = createLinkTokens(Buffer.from(secret.trim(), 'utf8')).sign({ action: 'release', id: sharedId, recipient: BOB, expires: Date.now() - 1000 });
  const expired = await post('release', bobToken);
  assert.equal(expired.status, 410);
  assert.match(await expired.text(), /expired/);
  assert.deepEqual((await readQuarantined(file)).envelope.rcptTo, [BOB]);
  // only GET and POST are answered, and a body is read up to its bound
  assert.equal((await fetch(`${base}/release?t=${sharedToken}`, { method: 'PUT' })).status, 405);
  assert.equal((await fetch(`${base}/release`, { method: 'POST', body: 't='.padEnd(10_000, 'x') })).status, 413);

  assert.equal((await post('delete', tokens[0] ?? '')).status, 403, 'a release token deletes nothing');
  const deleted = await post('delete', aliceOnlyToken);
  assert.equal(deleted.status, 200);
  assert.match(await deleted.text(), /Message deleted/);
  await assert.rejects(readQuarantined(path.join(gw.dataDir, 'quarantine', `${aliceOnlyId}.msg`)), { code: 'ENOENT' });
  assert.equal((await post('delete', aliceOnlyToken)).status, 410);
  assert.equal(await metric(gw, 'spamgate_quarantine_link_actions_total', '{action="view",result="ok"}'), 1);
  assert.equal(await metric(gw, 'spamgate_quarantine_link_actions_total', '{action="release",result="ok"}'), 1);
  assert.equal(await metric(gw, 'spamgate_quarantine_link_actions_total', '{action="release",result="already_done"}'), 1);
  assert.equal(await metric(gw, 'spamgate_quarantine_link_actions_total', '{action="release",result="invalid"}'), 2, 'the forged token and the oversized body');
  assert.equal(await metric(gw, 'spamgate_quarantine_link_actions_total', '{action="release",result="expired"}'), 1);
  assert.equal(await metric(gw, 'spamgate_quarantine_link_actions_total', '{action="delete",result="ok"}'), 1);
  assert.equal(await metric(gw, 'spamgate_quarantine_link_actions_total', '{action="delete",result="invalid"}'), 1, 'the release token');

  // the /metrics listener is unchanged beside the new routes
  assert.equal((await fetch(`http://127.0.0.1:${gw.httpPort ?? 0}/healthz`)).status, 200);
  assert.equal((await fetch(`http://127.0.0.1:${gw.httpPort ?? 0}/metrics`, { method: 'POST' })).status, 405);

  // another round (through the instance) and a restarted runner on the saved state: nothing is sent again
  const second2 = await runCli(['quarantine', 'digest', '--now', '--config', configFile, '--data-dir', gw.dataDir], { timeoutMs: 60_000 });
  assert.equal(second2.code, 0, second2.stderr);
  const queued: string[] = [];
  const sink: MessageSink = { enqueue: async (e) => (queued.push(...e.rcptTo), { id: 'x' }) };
  const cfg = gw.app.config;
  const restarted = await createDigestRunner({ dir: path.join(gw.dataDir, 'quarantine'), stateFile: digestStateFile(gw.dataDir), config: cfg.quarantine.digest, maxAgeMs: cfg.quarantine.max_age, localDomains: cfg.local_domains, hostname: 'mx.test.example', sink, clock: systemClock, registry: createRegistry(false), log: silentLogger, fsync: false });
  assert.equal(await restarted.run(false), undefined, 'no round due after a restart');
  assert.deepEqual((await restarted.run(true))?.sent, []);
  assert.deepEqual(queued, []);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(inbox(gw, 'bob').length, 1, `no second digest for bob: ${inbox(gw, 'bob').join('\n=====\n')}`);
  assert.equal(await metric(gw, 'spamgate_quarantine_digests_total', '{result="sent"}'), 2);
});

test("front-of mode: a user's sub-addresses share one digest, to the address without them; '' for the delimiter gives each its own", async (t) => {
  const sink = await startSink();
  t.after(() => sink.close());
  const start = async (delimiter?: string): Promise<{ gw: RunningGateway; configFile: string }> => {
    const configFile = path.join(tempDir(t, 'spamgate-qdigest-front-'), 'spamgate.yaml');
    const gw = await startGateway(
      t,
      {
        mode: 'front-of',
        local_domains: ['corp.example'],
        delivery: { upstream: { host: sink.host, port: sink.port } },
        ...(delimiter !== undefined ? { mailhost: { subaddress_delimiter: delimiter } } : {}),
        queue: { retry_initial: '200ms', retry_max: '400ms', scan_interval: '100ms' },
        quarantine: { digest: { enabled: true } },
        rules_dirs: [SHIPPED_RULES_DIR, quarantineRules(t)],
        bayes: { enabled: false },
        smtp: { trusted_networks: [] },
        checks: { disabled: DNS_CHECKS },
      },
      { configFile },
    );
    for (const [rcpts, subject] of [[['alice+news@corp.example'], 'one'], [['Alice+Shop@corp.example', 'alice+news@corp.example'], 'two'], [[BOB], 'three']] as const) {
      assert.equal((await sendMessage(gw.smtpPort, 'a@remote.example', [...rcpts], msg(`QUARANTINE-ME ${subject}`))).data?.code, 250);
    }
    return { gw, configFile };
  };
  const dryRun = async (gw: RunningGateway, configFile: string): Promise<string[]> => {
    const dry = await runCli(['quarantine', 'digest', '--dry-run', '--config', configFile, '--data-dir', gw.dataDir], { timeoutMs: 60_000 });
    assert.equal(dry.code, 0, dry.stderr);
    return [...dry.stdout.matchAll(/^To: (\S+)$/gm)].map((m) => m[1] ?? '').sort();
  };

  const { gw, configFile } = await start();
  assert.deepEqual(await dryRun(gw, configFile), [ALICE, BOB]);
  const ran = await runCli(['quarantine', 'digest', '--now', '--config', configFile, '--data-dir', gw.dataDir], { timeoutMs: 60_000 });
  assert.equal(ran.code, 0, ran.stderr);
  await sink.waitForMessages(2);
  const digests = sink.messages.map((m) => ({ to: m.rcptTo.join(','), raw: m.raw.toString() }));
  assert.deepEqual(digests.map((d) => d.to).sort(), [ALICE, BOB]);
  const aliceText = (await PostalMime.parse(digests.find((d) => d.to === ALICE)?.raw ?? '')).text ?? '';
  assert.match(aliceText, /QUARANTINE-ME one/);
  assert.equal(aliceText.match(/QUARANTINE-ME two/g)?.length, 1, 'a message to two of her sub-addresses is listed once');

  const off = await start('');
  assert.deepEqual(await dryRun(off.gw, off.configFile), ['Alice+Shop@corp.example', 'alice+news@corp.example', BOB].sort());
});
