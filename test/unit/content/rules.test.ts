// Content rules: validation with file and line, each rule kind, meta expressions, look-alike domains,
// the shipped rule files, and the explain output.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { runOffline } from '../../../src/bayes/cli-support.ts';
import type { Check } from '../../../src/checks/types.ts';
import { createContentChecks } from '../../../src/checks/content-checks.ts';
import { lookalikeHits } from '../../../src/checks/lookalike.ts';
import { formatExplain } from '../../../src/commands/explain.ts';
import { ConfigError } from '../../../src/config/load.ts';
import { uriHost, withContentSymbols } from '../../../src/content/engine.ts';
import { createLookalikeMatcher } from '../../../src/content/lookalike.ts';
import { evalMeta, parseMeta } from '../../../src/content/meta-expr.ts';
import { lookalikeSectionSchema } from '../../../src/content/rules-schema.ts';
import { parseMail } from '../../../src/mime/parse.ts';
import { loadRuleset } from '../../../src/scoring/ruleset.ts';
import { scoreHits } from '../../../src/scoring/scorer.ts';

const SHIPPED = path.resolve(import.meta.dirname, '../../../rules');

function rulesDir(t: { after: (fn: () => void) => void }, files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'spamgate-rules-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

test('a bad regex and a bad meta expression are reported with file and line', (t) => {
  const dir = rulesDir(t, {
    'bad.yaml': [
      'content_rules:',
      '  - symbol: CT_OK',
      '    description: fine',
      '    weight: 1',
      '    type: body',
      '    regex: hello',
      '  - symbol: CT_BAD',
      '    description: broken regex',
      '    weight: 1',
      '    type: body',
      "    regex: '(unclosed'",
      '  - symbol: CT_META',
      '    description: broken meta',
      '    weight: 1',
      '    type: meta',
      '    expr: CT_OK && (',
    ].join('\n'),
  });
  const file = path.join(dir, 'bad.yaml');
  assert.throws(() => loadRuleset([dir]), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    const text = err.problems.join('\n');
    assert.match(text, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:11: content_rules\\[1\\]\\.regex: invalid regular expression: Unterminated group, found "\\(unclosed"`));
    assert.match(text, /bad\.yaml:16: content_rules\[2\]\.expr: invalid meta expression/);
    return true;
  });
});

test('meta expressions: precedence, negation, counts', () => {
  const hit = (set: string[]) => (s: string) => set.includes(s);
  const e = parseMeta('A && (B || !C)');
  assert.equal(evalMeta(e, hit(['A', 'B', 'C'])), 1);
  assert.equal(evalMeta(e, hit(['A', 'C'])), 0);
  assert.equal(evalMeta(e, hit(['A'])), 1);
  assert.equal(evalMeta(parseMeta('A || B && C'), hit(['A'])), 1, '&& binds tighter than ||');
  const count = parseMeta('A + B + C >= 2');
  assert.equal(evalMeta(count, hit(['A', 'C'])), 1);
  assert.equal(evalMeta(count, hit(['B'])), 0);
  assert.throws(() => parseMeta('A && && B'));
  assert.throws(() => parseMeta('a_lower'));
});

test('look-alike domains: typo, homoglyph, embedded brand; the brand itself and its subdomains pass', () => {
  const m = createLookalikeMatcher(lookalikeSectionSchema.parse({ protected: ['paypal.com', 'example-bank.com'] }));
  assert.equal(m.check('paypa1.com')?.how, 'homoglyph');
  assert.equal(m.check('paypall.com')?.how, 'distance');
  assert.equal(m.check('paypal-secure-login.net')?.how, 'embedded');
  assert.equal(m.check('paypal.com'), undefined);
  assert.equal(m.check('www.paypal.com'), undefined);
  assert.equal(m.check('wikipedia.org'), undefined);
});

test('look-alike domains in other scripts: Cyrillic letters, A-labels and accents fold to the brand; reported as the A-label', () => {
  const m = createLookalikeMatcher(lookalikeSectionSchema.parse({ protected: ['paypal.com'] }));
  assert.deepEqual(m.check('p\u0430ypal.com'), { domain: 'xn--pypal-4ve.com', brand: 'paypal.com', how: 'homoglyph' });
  assert.deepEqual(m.check('xn--pypal-4ve.com'), { domain: 'xn--pypal-4ve.com', brand: 'paypal.com', how: 'homoglyph' });
  assert.equal(m.check('p\u00e0yp\u00e1l.com')?.how, 'homoglyph');
  // longer than a DNS label can be: no real domain, so no look-alike (and no distance work on it)
  assert.equal(m.check(`${'a'.repeat(60)}paypal.com`), undefined);
  assert.equal(m.check(`paypa1${'x'.repeat(70)}.com`), undefined);
});

test('URL hosts as a browser reads them: a backslash ends the host, userinfo is skipped', () => {
  assert.equal(uriHost('https://paypa1.com\\.paypal.com/login'), 'paypa1.com');
  assert.equal(uriHost('http:\\\\evil.example\\path'), 'evil.example');
  assert.equal(uriHost('https://user@Shop.Example.:8080/x'), 'shop.example');
  assert.equal(uriHost('www.example.org/a'), 'www.example.org');
});

test('look-alike check reads IDN From domains, decoded or as A-labels', () => {
  const m = createLookalikeMatcher(lookalikeSectionSchema.parse({ protected: ['paypal.com'] }));
  const mail = (from: string) => parseMail(Buffer.from(`From: ${from}\r\nSubject: x\r\n\r\nhi\r\n`));
  const encoded = `=?utf-8?b?${Buffer.from('PayPal <service@p\u0430ypal.com>').toString('base64')}?=`;
  for (const from of ['service@xn--pypal-4ve.com', encoded]) {
    assert.deepEqual(lookalikeHits(mail(from), m), [{ symbol: 'LOOKALIKE_FROM_DOMAIN', options: ['xn--pypal-4ve.com', '~paypal.com', 'homoglyph'] }], from);
  }
  assert.deepEqual(lookalikeHits(mail('service@paypal.com'), m), []);
});

test('shipped rules load; content checks emit each rule kind and meta rules see sibling symbols', async (t) => {
  const dir = rulesDir(t, {
    'extra.yaml': [
      'lookalike:',
      '  protected: [paypal.com]',
    ].join('\n'),
  });
  const ruleset = withContentSymbols(loadRuleset([SHIPPED, dir]));
  const checks = createContentChecks({ ruleset });
  const raw = Buffer.from([
    'From: "PayPal" <service@paypa1.com>',
    'Subject: URGENT!!! VERIFY YOUR ACCOUNT',
    'Content-Type: multipart/mixed; boundary="b"',
    '',
    '--b',
    'Content-Type: text/html',
    '',
    '<p>Please verify your account at <a href="http://192.0.2.7/login">PayPal</a>. Act now!</p>',
    '--b',
    'Content-Type: application/octet-stream; name="invoice.exe"',
    'Content-Disposition: attachment; filename="invoice.exe"',
    'Content-Transfer-Encoding: base64',
    '',
    'TVqQAAMAAAAEAAAA',
    '--b--',
    '',
  ].join('\r\n'));
  const { hits } = await runOffline(checks, raw);
  const symbols = new Set(hits.map((h) => h.symbol));
  for (const s of ['CT_SUBJ_EXCLAIM', 'CT_NO_MESSAGE_ID', 'CT_NO_DATE', 'CT_BODY_ACCOUNT_VERIFY', 'CT_URI_IP_HOST', 'CT_MIME_HTML_ONLY', 'CT_MIME_EXECUTABLE', 'LOOKALIKE_FROM_DOMAIN', 'CT_META_PHISH']) {
    assert.ok(symbols.has(s), `expected ${s}, got ${[...symbols].join(' ')}`);
  }
  assert.equal(symbols.has('CT_BODY_PHARMA'), false);
  const exe = hits.find((h) => h.symbol === 'CT_MIME_EXECUTABLE');
  assert.deepEqual(exe?.options, ['invoice.exe']);
  const verdict = scoreHits(hits, ruleset);
  const text = formatExplain('msg.eml', verdict, ruleset);
  assert.match(text, /action reject \(score \d+\.\d\d; decided by reject >= 15\)/);
  assert.match(text, /CT_MIME_EXECUTABLE \(weight 5\) \[invoice\.exe\]\n\s+Attachment of an executable or script type/);
  assert.match(text, /LOOKALIKE_FROM_DOMAIN \(weight 4\) \[paypa1\.com, ~paypal\.com, homoglyph\]/);
});

test('a clean message hits none of the spammy content rules', async () => {
  const ruleset = withContentSymbols(loadRuleset([SHIPPED]));
  const checks = createContentChecks({ ruleset });
  const raw = readFileSync(new URL('../../fixtures/mail/nested-multipart.eml', import.meta.url));
  const { hits } = await runOffline(checks, raw);
  assert.deepEqual(hits.map((h) => h.symbol).sort(), ['CT_MIME_EXECUTABLE', 'CT_RAWBODY_BASE64_TEXT']);
});

test('meta rules see the symbols of every data-phase check, DKIM/DMARC included (they run last)', async (t) => {
  const dir = rulesDir(t, {
    'zz-local.yaml': [
      'content_rules:',
      '  - { symbol: LOCAL_VERIFY_WORDS, description: asks to verify, weight: 1, type: body, regex: "/verify your account/i" }',
      '  - { symbol: LOCAL_VERIFY_UNSIGNED, description: verify request without a DKIM pass, weight: 4, type: meta, expr: "LOCAL_VERIFY_WORDS && !DKIM_PASS" }',
    ].join('\n'),
  });
  const ruleset = withContentSymbols(loadRuleset([SHIPPED, dir]));
  // stands in for the DKIM/DMARC check: another data-phase check of the same message, run alongside
  const dkim = (pass: boolean): Check => ({ name: 'dkim_dmarc', phase: 'data', symbols: ['DKIM_PASS'], run: async () => (pass ? [{ symbol: 'DKIM_PASS' }] : []) });
  const raw = Buffer.from('From: bank@example.org\r\nSubject: hello\r\n\r\nPlease verify your account today.\r\n');
  const symbols = async (pass: boolean): Promise<string[]> => (await runOffline([dkim(pass), ...createContentChecks({ ruleset })], raw)).hits.map((h) => h.symbol);
  assert.ok((await symbols(false)).includes('LOCAL_VERIFY_UNSIGNED'));
  const signed = await symbols(true);
  assert.ok(signed.includes('DKIM_PASS') && signed.includes('LOCAL_VERIFY_WORDS'));
  assert.equal(signed.includes('LOCAL_VERIFY_UNSIGNED'), false, 'the DKIM pass of the same message is seen');
});

test('uri rules see the targets of open redirectors (the uribl: section list), to its redirect_depth', async (t) => {
  const dir = rulesDir(t, {
    'zz-local.yaml': [
      'content_rules:',
      '  - { symbol: LOCAL_EVIL_HOST, description: links to evil.example, weight: 3, type: uri, match: host, regex: "/(^|\\\\.)evil\\\\.example$/" }',
      '  - { symbol: LOCAL_EVIL_URL, description: the evil login page, weight: 1, type: uri, regex: "/^https:\\\\/\\\\/evil\\\\.example\\\\/login/" }',
    ].join('\n'),
  });
  const message = (href: string): Buffer => Buffer.from(['From: a@sender.example', 'Subject: hi', 'Content-Type: text/html', '', `<p><a href="${href}">your account</a></p>`, ''].join('\r\n'));
  const symbols = async (ruleset: ReturnType<typeof loadRuleset>, href: string): Promise<string[]> => (await runOffline(createContentChecks({ ruleset }), message(href))).hits.map((h) => h.symbol).filter((s) => s.startsWith('LOCAL_')).sort();
  const shipped = loadRuleset([SHIPPED, dir]);
  const wrapped = `https://www.google.com/url?q=${encodeURIComponent('https://evil.example/login?x=1')}&sa=D`;
  assert.deepEqual(await symbols(shipped, wrapped), ['LOCAL_EVIL_HOST', 'LOCAL_EVIL_URL'], 'a shipped redirector (google.com/url) unwrapped');
  // a redirector to a redirector: within the shipped depth
  const twice = `https://www.google.com/url?q=${encodeURIComponent(`https://l.facebook.com/l.php?u=${encodeURIComponent('https://evil.example/login')}`)}`;
  assert.deepEqual(await symbols(shipped, twice), ['LOCAL_EVIL_HOST', 'LOCAL_EVIL_URL']);
  // a look-alike of the redirector's host is no redirector: its parameter is not read as a link
  assert.deepEqual(await symbols(shipped, `https://www.google.com.attacker.example/url?q=${encodeURIComponent('https://evil.example/login')}`), []);
  // without redirectors (a rules set with no uribl: section), the link is only what it says
  assert.deepEqual(await symbols(loadRuleset([dir]), wrapped), []);
  // redirect_depth 0 turns unwrapping off for the rules too
  writeFileSync(path.join(dir, 'zz-nodepth.yaml'), 'uribl:\n  redirect_depth: 0\n');
  assert.deepEqual(await symbols(loadRuleset([SHIPPED, dir]), wrapped), []);
});
