// Config section `arc`: defaults (sealing off, nobody trusted), and the cross-checks that sealing has a DKIM key.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configSchema } from '../../../src/config/schema.ts';

const KEY = { domain: 'fwd.example', selector: 's1', key: '/nonexistent/key.pem' };

test('arc defaults: no sealing, no trusted sealers', () => {
  assert.deepEqual(configSchema.parse({}).arc, { seal: false, trusted_sealers: [] });
});

test('arc.seal needs a dkim.sign key; arc.seal_domain must be a dkim.sign domain; unknown keys and bad names refused', () => {
  const issues = (input: unknown): string[] => {
    const r = configSchema.safeParse(input);
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };
  assert.deepEqual(issues({ arc: { seal: true }, dkim: { sign: [KEY] } }), []);
  assert.deepEqual(issues({ arc: { seal: true, seal_domain: 'fwd.example', trusted_sealers: ['lists.example'] }, dkim: { sign: [KEY] } }), []);
  assert.match(issues({ arc: { seal: true } }).join('\n'), /^arc\.seal: ARC sealing needs a key in dkim\.sign/m);
  assert.match(issues({ arc: { seal_domain: 'other.example' }, dkim: { sign: [KEY] } }).join('\n'), /^arc\.seal_domain: other\.example has no key in dkim\.sign/m);
  assert.notDeepEqual(issues({ arc: { trusted: ['x.example'] } }), []);
  assert.notDeepEqual(issues({ arc: { trusted_sealers: ['not a domain'] } }), []);
});

test('arc.trusted_sealers refuses a bare top-level name: it would trust every sealer under it', () => {
  for (const tld of ['com', 'Org.', 'example']) {
    const r = configSchema.safeParse({ arc: { trusted_sealers: ['lists.example', tld] } });
    assert.equal(r.success, false, tld);
    assert.match(r.success ? '' : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n'), /^arc\.trusted_sealers\.1: /m);
  }
  assert.equal(configSchema.safeParse({ arc: { trusted_sealers: ['google.com', 'lists.example.org'] } }).success, true);
});
