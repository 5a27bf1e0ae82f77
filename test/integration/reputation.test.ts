// Sender reputation end to end over SMTP (XCLIENT-presented clients, a sink as the next hop): a network that
// sent spam gets REPUTATION_IP_BAD on its next message, another network does not; an SPF-authenticated
// domain with a good history gets REPUTATION_DOMAIN_GOOD and the same domain forged from elsewhere does not;
// messages refused at DATA count; the in-process store survives a restart; no feedback loop; `spamgate
// explain` and `spamgate reputation show|reset` read it; history decays with the (injected) clock.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ManualClock } from '../../src/util/clock.ts';
import { runCli } from '../helpers/cli-process.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { GOOD_IP, learned, metrics, send, SPAM_IP, startRepGateway } from './reputation-harness.ts';

test('a network that sent spam gets REPUTATION_IP_BAD on its next message; another network does not', async (t) => {
  const s = await startRepGateway(t);
  for (let i = 0; i < 3; i++) {
    const r = await send(t, s, SPAM_IP, `bulk${i}@spam.example`, 'Buy now REP-SPAM-MARKER');
    assert.doesNotMatch(r.result, /REPUTATION/, 'no history yet: silent');
    assert.match(r.raw, /^X-Spamgate-Reputation: ip=198\.51\.100\.0\/24; seal=[\w-]+\.[\w-]+$/m);
  }
  await learned(s.gw, 3);
  // a plain message from the same /24 is marked by the network's history
  const next = await send(t, s, '198.51.100.99', 'other@elsewhere.example', 'hello there');
  assert.match(next.result, /REPUTATION_IP_BAD\(\d+(\.\d+)?\)\[198\.51\.100\.0\/24,avg=12\.50,n=3\.0\]/);
  const other = await send(t, s, '203.0.113.5', 'other@elsewhere.example', 'hello there');
  assert.doesNotMatch(other.result, /REPUTATION/);
  const m = await metrics(s.gw);
  assert.match(m, /spamgate_reputation_lookups_total\{key="ip",result="bad"\} 1\b/);
  assert.match(m, /spamgate_reputation_lookups_total\{key="ip",result="unknown"\} 2\b/);
  assert.match(m, /spamgate_reputation_lookups_total\{key="ip",result="silent"\} 2\b/);
  assert.match(m, /spamgate_reputation_lookups_total\{key="domain",result="good"\} 0\b/);
  assert.match(m, /spamgate_reputation_entries 2\b/);
  // an IPv6 client: its /64
  const v6 = await send(t, s, '2001:db8:1:2::25', 'other@elsewhere.example', 'hello there');
  assert.match(v6.raw, /^X-Spamgate-Reputation: ip=2001:db8:1:2::\/64; seal=[\w-]+\.[\w-]+$/m);
});

test('an SPF-authenticated domain with a good history gets REPUTATION_DOMAIN_GOOD; forged from elsewhere it does not', async (t) => {
  const s = await startRepGateway(t);
  for (let i = 0; i < 4; i++) {
    const r = await send(t, s, GOOD_IP, 'news@good.example', 'monthly newsletter');
    assert.match(r.raw, /^X-Spamgate-Reputation: ip=192\.0\.2\.0\/24; domain=good\.example; seal=[\w-]+\.[\w-]+$/m);
  }
  await learned(s.gw, 4);
  const ok = await send(t, s, '192.0.2.20', 'news@good.example', 'monthly newsletter');
  assert.match(ok.result, /REPUTATION_DOMAIN_GOOD\(-\d+(\.\d+)?\)\[good\.example,avg=-?\d+\.\d\d,n=4\.0\]/);
  // forged: SPF fails, the domain is no key (and the forger's network has no history)
  const forged = await send(t, s, '203.0.113.5', 'news@good.example', 'monthly newsletter');
  assert.doesNotMatch(forged.result, /REPUTATION_DOMAIN/);
  assert.match(forged.raw, /^X-Spamgate-Reputation: ip=203\.0\.113\.0\/24; seal=[\w-]+\.[\w-]+$/m);
  // a forged X-Spamgate-Reputation from the client is stripped: ours alone names the keys
  assert.doesNotMatch(forged.raw, /domain=good\.example/);
});

test('refused at DATA counts; the in-process store survives a restart; the symbols do not feed on themselves', async (t) => {
  const s = await startRepGateway(t);
  for (let i = 0; i < 3; i++) assert.equal((await send(t, s, SPAM_IP, 'x@spam.example', 'REP-REJECT-MARKER')).data.code, 554);
  await learned(s.gw, 3);
  // each scored 22.5: the marker (20), SPF_NONE and FROM_DOMAIN_NXDOMAIN (spam.example is in no zone)
  const score = Number(s.gw.transactions().at(-1)?.score);
  assert.equal(score, 22.5);
  const dataDir = s.gw.dataDir;
  // hits REPUTATION_IP_BAD; the score learned is without it
  assert.equal((await send(t, s, SPAM_IP, 'x@spam.example', 'REP-REJECT-MARKER')).data.code, 554);
  await learned(s.gw, 4);
  await s.gw.app.stop(500);
  const saved = JSON.parse(readFileSync(path.join(dataDir, 'reputation.json'), 'utf8')) as { entries: Array<[string, number, number, number]> };
  const rec = saved.entries.find((e) => e[0] === 'ip:198.51.100.0/24');
  assert.ok(rec);
  assert.ok(Math.abs(rec[1] / rec[2] - score) < 1e-9, `the average ${rec[1] / rec[2]} is of the scores without the reputation symbols (${score})`);
  const again = await startRepGateway(t, {}, { dataDir }, s.sink);
  const r = await send(t, again, '198.51.100.50', 'y@elsewhere.example', 'hello');
  assert.match(r.result, /REPUTATION_IP_BAD\([\d.]+\)\[198\.51\.100\.0\/24,avg=22\.50,n=4\.0\]/);
  await again.gw.app.stop(500);

  // the CLI (the plain message, 2.5, was learned too): explain judges the keys the delivered message records; show and reset a key
  const file = path.join(tempDir(t), 'delivered.eml');
  writeFileSync(file, r.message);
  const explained = await runCli(['explain', file, '--data-dir', dataDir]);
  assert.match(explained.stdout, /REPUTATION_IP_BAD \(weight 2\) \[198\.51\.100\.0\/24, avg=18\.50, n=5\.0\]/, explained.stderr);
  const show = await runCli(['reputation', 'show', '198.51.100.1', '--data-dir', dataDir]);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /^ip:198\.51\.100\.0\/24\taverage 18\.50, count 5\.0: bad \(REPUTATION_IP_BAD, factor [\d.]+\)\n$/);
  assert.equal((await runCli(['reputation', 'reset', 'ip:198.51.100.0/24', '--data-dir', dataDir])).code, 0);
  assert.match((await runCli(['reputation', 'show', 'ip:198.51.100.0/24', '--data-dir', dataDir])).stdout, /\tno history\n$/);
  assert.equal((await runCli(['reputation', 'reset', 'domain:never.example', '--data-dir', dataDir])).code, 1);
  assert.equal((await runCli(['reputation', 'show', 'ip:nonsense', '--data-dir', dataDir])).code, 2);
});

test('history decays with the gateway clock: after three half-lives a spam network is silent again', async (t) => {
  const clock = new ManualClock(Date.now());
  const s = await startRepGateway(t, {}, { clock });
  for (let i = 0; i < 4; i++) await send(t, s, SPAM_IP, 'x@spam.example', 'REP-SPAM-MARKER');
  await learned(s.gw, 4);
  assert.match((await send(t, s, SPAM_IP, 'y@elsewhere.example', 'hello')).result, /REPUTATION_IP_BAD\(/);
  await learned(s.gw, 5);
  // five messages, 90 days (three half-lives of 30d) later: 5 / 8 of a message, under min_count
  clock.advance(90 * 86_400_000);
  const later = await send(t, s, SPAM_IP, 'y@elsewhere.example', 'hello');
  assert.doesNotMatch(later.result, /REPUTATION/);
  assert.match(await metrics(s.gw), /spamgate_reputation_lookups_total\{key="ip",result="silent"\} 3\b/);
});

test('reputation does not decide Bayes autolearning: mail a bad history alone lifts past autolearn.spam_score is not learned as spam', async (t) => {
  // each message scores 12.5 on its own (the marker, SPF_NONE, FROM_DOMAIN_NXDOMAIN): under spam_score 13,
  // over it with REPUTATION_IP_BAD once the network has a history; Bayes would then learn what reputation said
  const s = await startRepGateway(t, { bayes: { enabled: true, autolearn: { spam_score: 13, ham_score: -2 } } });
  let tagged = 0;
  for (let i = 0; i < 25; i++) {
    const r = await send(t, s, SPAM_IP, `x${i}@spam.example`, `REP-SPAM-MARKER number ${i} of a run`);
    assert.equal(r.data.code, 250, `message ${i}: ${r.data.lines.join('|')}`);
    if (/REPUTATION_IP_BAD/.test(r.result)) tagged++;
  }
  await learned(s.gw, 25);
  assert.ok(tagged > 10, `${tagged}`);
  await new Promise((r) => setTimeout(r, 300));
  const m = /spamgate_bayes_learned_total\{class="spam",source="autolearn"\} (\d+)/.exec(await metrics(s.gw));
  assert.equal(Number(m?.[1] ?? 0), 0);
});

test('the in-process store is written at most once a minute while mail keeps coming (it is the whole map, up to max_entries keys), and at stop', async (t) => {
  const s = await startRepGateway(t);
  const file = path.join(s.gw.dataDir, 'reputation.json');
  await send(t, s, SPAM_IP, 'x@spam.example', 'hello');
  await learned(s.gw, 1);
  await new Promise((r) => setTimeout(r, 1800));
  assert.equal(existsSync(file), false, 'written within two seconds of a change');
  await s.gw.app.stop(500);
  assert.equal(JSON.parse(readFileSync(file, 'utf8')).entries.length, 1);
});
