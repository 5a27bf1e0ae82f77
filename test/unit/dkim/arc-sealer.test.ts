// The ARC sealer (arc-sealer.ts): the key of the forwarding domain (or of arc.seal_domain), the instance one above
// the chain on the message, cv= as given, and no new set on a chain whose newest seal says cv=fail (RFC 8617 §5.1).
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { sealMessage } from 'mailauth/lib/arc/index.js';
import { createArcSealer } from '../../../src/dkim/arc-sealer.ts';
import type { DkimKey } from '../../../src/dkim/signer.ts';

const pem = (): string => generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const key = (domain: string, selector: string): DkimKey => ({ domain, selector, type: 'rsa', pem: pem() });
const RAW = Buffer.from('From: <a@sender.example>\r\nTo: <team@fwd.example>\r\nSubject: hi\r\n\r\nhello\r\n');
const AR = 'mx.test.example;\r\n\tspf=pass smtp.mailfrom=a@sender.example';
const NOW = Date.parse('2026-05-04T12:00:00Z');

test('seals with the most specific key of the forwarding domain: i=1 cv=none, the AAR holding our results', async () => {
  const sealer = createArcSealer([key('example', 'p'), key('fwd.example', 's1')]);
  const out = await sealer.seal(RAW, { forwarderDomain: 'Sub.Fwd.Example', authResults: AR, cv: 'none', now: NOW });
  assert.equal(out.status, 'sealed');
  assert.ok(out.status === 'sealed');
  assert.deepEqual([out.domain, out.instance, out.cv], ['fwd.example', 1, 'none']);
  const fields = out.header.split(/\r\n(?![ \t])/).filter(Boolean).map((f) => f.slice(0, f.indexOf(':')));
  assert.deepEqual(fields, ['ARC-Seal', 'ARC-Message-Signature', 'ARC-Authentication-Results']);
  assert.match(out.header, /^ARC-Seal: i=1; a=rsa-sha256; t=1777896000; cv=none;\s+d=fwd\.example; s=s1;/);
  assert.match(out.header, /ARC-Authentication-Results: i=1; mx\.test\.example;\r\n\tspf=pass smtp\.mailfrom=a@sender\.example\r\n$/);
});

test('no key for the domain: not sealed; arc.seal_domain seals every forward with its key', async () => {
  const keys = [key('fwd.example', 's1')];
  assert.deepEqual(await createArcSealer(keys).seal(RAW, { forwarderDomain: 'localhost', authResults: AR, cv: 'none', now: NOW }), { status: 'not_sealed', reason: 'no_key', detail: 'no dkim.sign key for localhost' });
  const named = await createArcSealer(keys, 'fwd.example').seal(RAW, { forwarderDomain: 'localhost', authResults: AR, cv: 'none', now: NOW });
  assert.equal(named.status === 'sealed' ? named.domain : named.status, 'fwd.example');
});

test('on a chain: the next instance; a newest seal with cv=fail is not sealed again (RFC 8617 §5.1 step 2)', async () => {
  const list = key('lists.example', 'l1');
  const first = await sealMessage(RAW, { signingDomain: list.domain, selector: list.selector, privateKey: list.pem, authResults: 'lists.example; spf=pass', cv: 'none' });
  const chained = Buffer.concat([first, RAW]);
  const sealer = createArcSealer([key('fwd.example', 's1')]);
  const next = await sealer.seal(chained, { forwarderDomain: 'fwd.example', authResults: AR, cv: 'pass', now: NOW });
  assert.equal(next.status === 'sealed' ? `${next.instance} ${next.cv}` : next.status, '2 pass');
  const failed = await sealer.seal(chained, { forwarderDomain: 'fwd.example', authResults: AR, cv: 'fail', now: NOW });
  assert.ok(failed.status === 'sealed');
  assert.match(failed.header, /^ARC-Seal: i=2; a=rsa-sha256; t=\d+; cv=fail;/);
  const dead = Buffer.concat([Buffer.from(failed.header), chained]);
  const again = await sealer.seal(dead, { forwarderDomain: 'fwd.example', authResults: AR, cv: 'fail', now: NOW });
  assert.equal(again.status === 'not_sealed' ? again.reason : again.status, 'chain_failed');
});
