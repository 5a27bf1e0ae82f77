// spamgate's rspamd HTTP listener (spamd.http_listen) asked by the real rspamd client, Debian's rspamc (package
// rspamd): `symbols` and `check` print the action, score and symbols spamgate's filter gives (the same as
// `spamgate explain` for the message file), GTUBE is rejected and a plain message is not, --json is the reply
// as rspamc reads it, -m writes the verdict headers, the envelope options (-i, --helo, --hostname, -F, -r, -d, -u)
// reach the checks, learn_spam / learn_ham learn through the Bayes learner when spamd.allow_tell is on.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { stringify as stringifyYaml } from 'yaml';
import { SHIPPED_RULES_DIR } from '../../src/config/load.ts';
import { runCli } from '../helpers/cli-process.ts';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { DNS_CHECKS, milterTestRules, scanTestConfig } from '../helpers/milter-gateway.ts';
import { runProgram, type ProgramRun } from '../helpers/run-program.ts';

const RSPAMC = '/usr/bin/rspamc';
const skip = existsSync(RSPAMC) ? false : 'rspamc is not installed (Debian package rspamd)';

type Json = Record<string, unknown>;

/** Runs rspamc against the listener. */
function rspamc(port: number, args: readonly string[]): Promise<ProgramRun> {
  return runProgram(RSPAMC, ['-h', `127.0.0.1:${port}`, '-t', '30', ...args], { timeoutMs: 60_000 });
}

const GTUBE = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';

/** A message file in LF line endings, as rspamc reads it from disk. */
function messageFile(dir: string, name: string, body: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, `From: Sender <news@sender.example>\nTo: user@example.test\nSubject: monthly news\nDate: Sun, 22 Nov 2026 00:00:00 +0000\nMessage-ID: <${name}@sender.example>\n\n${body}\n`);
  return file;
}

/** The marker rules and lists that show which envelope facts reached the connect and HELO checks. */
function rules(t: TestContext): string {
  const dir = milterTestRules(t);
  writeFileSync(
    path.join(dir, 'zz-rspamc.yaml'),
    `lists:
  LIST_T_IP: { type: ip, weight: 0.1, description: test client network, entries: [198.51.100.0/24] }
  LIST_T_HELO: { type: helo, weight: 0.1, description: test HELO name, entries: [mail.sender.example] }
overrides:
  strict@example.test: { junk: 5 }
`,
  );
  return dir;
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-rspamc-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function start(t: TestContext, rulesDir: string, extra: Json = {}): Promise<RunningGateway & { scanHttpPort: number }> {
  const gw = await startGateway(t, {
    ...scanTestConfig(rulesDir),
    spamd: { enabled: true, listen: '127.0.0.1:0', http_listen: '127.0.0.1:0' },
    ...extra,
  });
  assert.ok(gw.scanHttpPort, 'the rspamd http listener listens');
  return gw as RunningGateway & { scanHttpPort: number };
}

interface Printed {
  action: string;
  spam: string;
  score: number;
  required: number;
  symbols: Map<string, number>;
}

/** rspamc's text output of one scan: "Action: …", "Spam: …", "Score: S / R", "Symbol: NAME (score)[options]". */
function printed(out: string): Printed {
  const field = (name: string): string => {
    const m = new RegExp(`^${name}: (.*)$`, 'm').exec(out);
    assert.ok(m, `no ${name} line in\n${out}`);
    return m[1] ?? '';
  };
  const score = /^(-?[\d.]+) \/ (-?[\d.]+)$/.exec(field('Score'));
  assert.ok(score, out);
  const symbols = new Map([...out.matchAll(/^Symbol: (\w+) \((-?[\d.]+)\)/gm)].map((m) => [m[1] ?? '', Number(m[2])]));
  return { action: field('Action'), spam: field('Spam'), score: Number(score[1]), required: Number(score[2]), symbols };
}

test('rspamc symbols and check: GTUBE and a marker rejected, a plain message not, the same verdict as spamgate explain', { skip }, async (t) => {
  const dir = tempDir(t);
  const rulesDir = rules(t);
  const gw = await start(t, rulesDir);
  const gtube = messageFile(dir, 'gtube.eml', `This is the GTUBE, the\n\tGeneric\nTest for\n\tUnsolicited\nBulk\nEmail\n\n${GTUBE}\n`);
  const marker = messageFile(dir, 'marker.eml', 'Hello, REJECT-MARKER here.');
  const tag = messageFile(dir, 'tag.eml', 'Hello, TAG-MARKER here.');
  const ham = messageFile(dir, 'ham.eml', 'Hello, see you on Monday at the usual place.');

  // the same message judged by `spamgate explain` (content only, as a scan without an IP header) in its own process
  const config = path.join(dir, 'spamgate.yaml');
  writeFileSync(config, stringifyYaml({ local_domains: ['example.test'], rules_dirs: [SHIPPED_RULES_DIR, rulesDir], bayes: { enabled: false }, checks: { disabled: DNS_CHECKS } }));
  const explained = new Map<string, { action: string; score: number; symbols: Map<string, number> }>();
  const expected = async (file: string): Promise<{ action: string; score: number; symbols: Map<string, number> }> => {
    const known = explained.get(file);
    if (known) return known;
    const r = await runCli(['explain', file, '--json', '--config', config, '--data-dir', dir]);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { action: string; score: number; symbols: Array<{ symbol: string; score: number }> };
    const verdict = { action: j.action, score: j.score, symbols: new Map(j.symbols.map((s) => [s.symbol, s.score])) };
    explained.set(file, verdict);
    return verdict;
  };

  const spam = await rspamc(gw.scanHttpPort, ['symbols', gtube]);
  assert.equal(spam.status, 0, spam.stderr);
  const s = printed(spam.stdout);
  assert.deepEqual([s.action, s.spam, s.required], ['reject', 'true', 6]);
  assert.equal(s.symbols.get('CT_GTUBE'), 1000);
  assert.match(spam.stdout, /^Symbol: CT_GTUBE \(1000\.00\)\[XJS\*C4JDBQADN1/m);
  assert.match(spam.stdout, /^Message-ID: gtube\.eml@sender\.example$/m);
  assert.match(spam.stdout, /^Message - smtp_message: \S/m);
  const e = await expected(gtube);
  assert.equal(e.action, 'reject');
  assert.deepEqual([s.score, s.symbols], [Math.round(e.score * 100) / 100, e.symbols]);

  for (const [file, action, spamFlag] of [[marker, 'reject', 'true'], [tag, 'rewrite subject', 'true'], [ham, 'no action', 'false']] as const) {
    // check is rspamc's other name for a scan: the same request and output
    for (const command of ['symbols', 'check']) {
      const r = await rspamc(gw.scanHttpPort, [command, file]);
      assert.equal(r.status, 0, r.stderr);
      const p = printed(r.stdout);
      assert.deepEqual([p.action, p.spam], [action, spamFlag], `${command} ${file}`);
      const x = await expected(file);
      assert.deepEqual([p.score, p.symbols], [Math.round(x.score * 100) / 100, x.symbols], `${command} ${file}`);
    }
  }
  assert.ok(!printed((await rspamc(gw.scanHttpPort, [ham])).stdout).symbols.has('CT_GTUBE'));

  // -m: the message with rspamc's verdict fields
  const mime = await rspamc(gw.scanHttpPort, ['-m', gtube]);
  assert.equal(mime.status, 0, mime.stderr);
  assert.match(mime.stdout, /^X-Spam: yes$/m);
  assert.match(mime.stdout, /^X-Spam-Action: reject$/m);
  assert.match(mime.stdout, /^X-Spam-Score: 10\d\d\.\d\d \/ 6\.00$/m);
  const hamMime = await rspamc(gw.scanHttpPort, ['-m', ham]);
  assert.match(hamMime.stdout, /^X-Spam-Action: no action$/m);
  assert.doesNotMatch(hamMime.stdout, /^X-Spam: yes$/m);
  // one transaction line per scan (1 + 6 + 1 + 2), on the spamd listener's log
  assert.equal(gw.transactions().filter((l) => l.listener === 'spamd').length, 10);
});

test('rspamc --json: spamgate\'s reply as rspamc re-emits it, scan_time a number (rspamc adds its own)', { skip }, async (t) => {
  const dir = tempDir(t);
  const gw = await start(t, rules(t));
  const r = await rspamc(gw.scanHttpPort, ['--json', 'symbols', messageFile(dir, 'gtube.eml', GTUBE)]);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as Json;
  assert.deepEqual([j.action, j.required_score, j.is_skipped], ['reject', 6, false]);
  assert.equal(typeof j.score, 'number');
  assert.equal(typeof j.scan_time, 'number', `scan_time: ${JSON.stringify(j.scan_time)}`);
  assert.equal(typeof j.time_real, 'number');
  const sym = (j.symbols as Record<string, Json>).CT_GTUBE;
  assert.deepEqual([sym?.name, sym?.score, sym?.metric_score], ['CT_GTUBE', 1000, 1000]);
  const milter = j.milter as { add_headers: Record<string, { value: string }> };
  assert.match(milter.add_headers['X-Spamgate-Result']?.value ?? '', /^reject; score=10\d\d/);
  assert.equal(milter.add_headers['X-Spam']?.value, 'Yes');
  // --ucl: the same reply in UCL, one scan_time
  const u = await rspamc(gw.scanHttpPort, ['--ucl', 'symbols', messageFile(dir, 'ham.eml', 'Hello.')]);
  assert.equal(u.status, 0, u.stderr);
  assert.match(u.stdout, /^action = "no action";$/m);
  assert.equal(u.stdout.match(/^scan_time = /gm)?.length, 1, u.stdout);
});

test('rspamc -i, --helo, --hostname, -F, -r, -d and -u reach the checks and the transaction log', { skip }, async (t) => {
  const dir = tempDir(t);
  const gw = await start(t, rules(t));
  const file = messageFile(dir, 'tag.eml', 'Hello, TAG-MARKER here.');
  const envelope = ['-i', '198.51.100.7', '--helo', 'mail.sender.example', '--hostname', 'mail.sender.example', '-F', 'bounces@sender.example', '-r', 'user@example.test', '-r', 'other@example.test'];
  const r = await rspamc(gw.scanHttpPort, [...envelope, 'symbols', file]);
  assert.equal(r.status, 0, r.stderr);
  const p = printed(r.stdout);
  assert.deepEqual([...p.symbols.keys()].sort(), ['CT_TEST_TAG', 'LIST_T_HELO', 'LIST_T_IP']);
  assert.deepEqual([p.score, p.required, p.action], [5.4, 6, 'rewrite subject']);
  const tx = gw.transactions().at(-1);
  assert.deepEqual([tx?.client_ip, tx?.from, tx?.rcpts], ['198.51.100.7', 'bounces@sender.example', ['user@example.test', 'other@example.test']]);

  // the first recipient at a local domain with its own thresholds: junk at 5, printed as the required score
  const strict = printed((await rspamc(gw.scanHttpPort, ['-i', '198.51.100.7', '-r', 'strict@example.test', 'symbols', file])).stdout);
  assert.deepEqual([strict.required, strict.action, strict.spam], [5, 'rewrite subject', 'true']);
  // -d (Deliver-To, the mailbox it ends in) comes before the recipients
  const deliver = printed((await rspamc(gw.scanHttpPort, ['-r', 'user@example.test', '-d', 'strict@example.test', 'symbols', file])).stdout);
  assert.equal(deliver.required, 5);

  // -u: an authenticated sender (outbound, as on submission): the client lists do not run
  const user = printed((await rspamc(gw.scanHttpPort, [...envelope, '-u', 'alice', 'symbols', file])).stdout);
  assert.deepEqual([...user.symbols.keys()], ['CT_TEST_TAG']);
  assert.equal(gw.transactions().at(-1)?.auth_user, 'alice');
});

test('rspamc learn_spam and learn_ham with spamd.allow_tell; refused without; -z (compressed) refused', { skip }, async (t) => {
  const dir = tempDir(t);
  const gw = await start(t, rules(t), { bayes: { enabled: true }, spamd: { enabled: true, listen: '127.0.0.1:0', http_listen: '127.0.0.1:0', allow_tell: true } });
  const file = messageFile(dir, 'learn.eml', 'cheap watches, best prices, click now');
  const first = await rspamc(gw.scanHttpPort, ['learn_spam', file]);
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, /^success = true;$/m);
  const again = await rspamc(gw.scanHttpPort, ['learn_spam', file]);
  assert.match(again.stdout, /^error = "message has been already learned as spam, ignore it";$/m);
  const ham = await rspamc(gw.scanHttpPort, ['learn_ham', file]);
  assert.match(ham.stdout, /^success = true;$/m);
  const learned = await gw.app.registry.getSingleMetricAsString('spamgate_bayes_learned_total');
  assert.match(learned, /class="spam",source="manual"\} 1\b/);
  assert.match(learned, /class="ham",source="manual"\} 1\b/);

  // zstd bodies are not read: a clear error and rspamc's failure exit, not a verdict on compressed bytes
  const z = await rspamc(gw.scanHttpPort, ['-z', 'symbols', file]);
  assert.equal(z.status, 1);
  assert.match(z.stdout, /HTTP error: 415/);

  const off = await start(t, rules(t));
  const refused = await rspamc(off.scanHttpPort, ['learn_spam', file]);
  assert.equal(refused.status, 1);
  assert.match(refused.stdout, /HTTP error: 403/);
});
