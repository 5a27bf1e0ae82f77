// Trusted ARC sealers (arc-override.ts): the newest seal's d= must be trusted (or under a trusted name), the chain
// must have validated, and that seal's AAR must show a pass for the From domain (dmarc, or aligned dkim/spf).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ARCResult } from 'mailauth';
import { trustedArcOverride } from '../../../src/checks/arc-override.ts';

/** mailauth's ARC result: status, the newest AAR parsed, the chain of seals (d= per instance). */
function arcResult(result: string, sealers: string[], aar: Record<string, unknown>): ARCResult {
  const chain = sealers.map((d, n) => ({ i: n + 1, 'arc-seal': { parsed: { d: { value: d } } } }));
  return { i: chain.length, status: { result }, authenticationResults: aar, chain } as unknown as ARCResult;
}

const DMARC_PASS = { mta: 'lists.example', dmarc: { result: 'pass', header: { from: 'strict.example' } } };

test('a validated chain whose newest seal is trusted and whose AAR passes DMARC for the From domain overrides', () => {
  assert.deepEqual(trustedArcOverride(arcResult('pass', ['lists.example'], DMARC_PASS), 'strict.example', ['lists.example']), { sealer: 'lists.example', instance: 1, method: 'dmarc' });
  // a sealer under a trusted name; names compared without case
  assert.equal(trustedArcOverride(arcResult('pass', ['Relay.Lists.example'], DMARC_PASS), 'Strict.Example', ['lists.example'])?.sealer, 'relay.lists.example');
});

test('no override: chain not validated, sealer not trusted, only an older seal trusted, no pass for the From domain', () => {
  const trusted = ['lists.example'];
  assert.equal(trustedArcOverride(arcResult('fail', ['lists.example'], DMARC_PASS), 'strict.example', trusted), undefined);
  assert.equal(trustedArcOverride(arcResult('pass', ['other.example'], DMARC_PASS), 'strict.example', trusted), undefined);
  assert.equal(trustedArcOverride(arcResult('pass', ['notlists.example'], DMARC_PASS), 'strict.example', trusted), undefined, 'a name ending in the trusted one is not under it');
  assert.equal(trustedArcOverride(arcResult('pass', ['lists.example', 'evil.example'], DMARC_PASS), 'strict.example', trusted), undefined, 'the newest seal decides');
  assert.equal(trustedArcOverride(arcResult('pass', ['lists.example'], DMARC_PASS), 'other.example', trusted), undefined, 'a pass for another From domain');
  assert.equal(trustedArcOverride(arcResult('pass', ['lists.example'], { dmarc: { result: 'fail', header: { from: 'strict.example' } } }), 'strict.example', trusted), undefined);
  assert.equal(trustedArcOverride(arcResult('pass', ['lists.example'], DMARC_PASS), 'strict.example', []), undefined, 'nobody trusted');
  assert.equal(trustedArcOverride(undefined, 'strict.example', trusted), undefined);
});

test('an aligned DKIM or SPF pass in the AAR also overrides; a bare TLD or a sibling domain does not align', () => {
  const trusted = ['lists.example'];
  const dkim = (d: string) => arcResult('pass', ['lists.example'], { dkim: [{ result: 'fail', header: { d: 'strict.example' } }, { result: 'pass', header: { d } }] });
  assert.equal(trustedArcOverride(dkim('strict.example'), 'news.strict.example', trusted)?.method, 'dkim');
  assert.equal(trustedArcOverride(dkim('example'), 'strict.example', trusted), undefined);
  assert.equal(trustedArcOverride(dkim('other.strict.example'), 'news.strict.example', trusted), undefined);
  const spf = arcResult('pass', ['lists.example'], { spf: { result: 'pass', smtp: { mailfrom: 'ceo@strict.example' } } });
  assert.equal(trustedArcOverride(spf, 'strict.example', trusted)?.method, 'spf');
  // a crafted AAR with objects where strings belong is no pass
  const odd = arcResult('pass', ['lists.example'], { dmarc: { result: { x: 1 }, header: { from: ['strict.example'] } }, dkim: 'pass' });
  assert.equal(trustedArcOverride(odd, 'strict.example', trusted), undefined);
});
