// The README's deployment examples stay true: every ```yaml block that names its file under
// /etc/spamgate/ is written to a scratch /etc/spamgate (with a TLS pair and the shipped rules where
// /opt/spamgate/rules is named), and `spamgate check-config` accepts each spamgate.yaml as it stands.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { checkConfigCommand } from '../../../src/commands/check-config.ts';
import { usersCommand } from '../../../src/commands/users.ts';
import { runCommand } from '../../helpers/command-io.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');

interface Example { file: string; text: string }

/** ```yaml blocks whose first line is "# /etc/spamgate/NAME…", in README order. */
function readmeExamples(): Example[] {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const out: Example[] = [];
  for (const m of readme.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)) {
    const text = m[1] ?? '';
    const named = /^# \/etc\/spamgate\/([\w./-]+)/.exec(text);
    if (named?.[1]) out.push({ file: named[1], text: text.replaceAll('/opt/spamgate/', `${ROOT}/`) });
  }
  return out;
}

test('every spamgate.yaml in the README passes check-config, with the local rules it shows', async (t) => {
  const examples = readmeExamples();
  const configs = examples.filter((e) => e.file === 'spamgate.yaml');
  assert.ok(configs.length >= 2, `found ${configs.length} example configs`);
  assert.ok(examples.some((e) => e.file.startsWith('local-rules/')), 'a local rules file is shown');

  for (const [i, example] of configs.entries()) {
    const etc = mkdtempSync(path.join(os.tmpdir(), 'spamgate-readme-'));
    t.after(() => rmSync(etc, { recursive: true, force: true }));
    mkdirSync(path.join(etc, 'tls'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(etc, 'tls/privkey.pem'), '-out', path.join(etc, 'tls/fullchain.pem'), '-days', '2', '-subj', '/CN=mail.example.org'], { stdio: 'ignore' });
    for (const e of examples.filter((x) => x.file !== 'spamgate.yaml')) {
      mkdirSync(path.dirname(path.join(etc, e.file)), { recursive: true });
      writeFileSync(path.join(etc, e.file), e.text);
    }
    const configFile = path.join(etc, 'spamgate.yaml');
    writeFileSync(configFile, example.text);
    const dataDir = path.join(etc, 'data');
    mkdirSync(dataDir);
    const args = (positional: string[] = []) => ({ flags: new Map<string, string | true>([['password-stdin', true]]), positional, dataDir, configFile });
    if (example.text.includes('alice@example.org')) {
      const added = await runCommand(usersCommand, args(['add', 'alice@example.org']), 'a-long-password\n');
      assert.equal(added.code, 0, added.err);
    }
    let result: { code: number; out: string; err: string };
    try {
      result = await runCommand(checkConfigCommand, args());
    } catch (err) {
      assert.fail(`README example ${i + 1} (${example.text.split('\n')[0]}) is refused:\n${(err as Error).message}`);
    }
    assert.equal(result.code, 0, result.err);
    const shipped = readdirSync(path.join(ROOT, 'rules')).filter((f) => f.endsWith('.yaml')).length;
    // every local rules file the README shows (the filtering gateway's, the antivirus quarantine one, the lists) is read
    const local = examples.filter((x) => x.file.startsWith('local-rules/') && x.file.endsWith('.yaml')).length;
    const files = example.text.includes('local-rules') ? shipped + local : shipped;
    assert.match(result.out, new RegExp(`^ok: .*spamgate\\.yaml, ${files} rules files, \\d+ symbols`), 'the local rules directory is read too');
  }
});

test('every whole spamgate.yaml in the README (one that names its mode) names its resolver (dns.servers): none leaves the reader to guess at /etc/resolv.conf', () => {
  // a feature's own snippet (the quarantine digests) shows only its keys
  const configs = readmeExamples()
    .filter((e) => e.file === 'spamgate.yaml')
    .map((e) => ({ first: e.text.split('\n')[0] ?? '', config: parse(e.text) as { mode?: unknown; dns?: { servers?: unknown } } | null }))
    .filter((e) => e.config?.mode !== undefined);
  assert.ok(configs.length >= 4, `found ${configs.length} whole example configs (the deployments, milter and spamd modes)`);
  for (const example of configs) {
    const dns = example.config?.dns;
    assert.ok(Array.isArray(dns?.servers) && dns.servers.length > 0, `README example "${example.first}" sets no dns.servers`);
  }
});
