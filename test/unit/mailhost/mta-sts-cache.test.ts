// The MTA-STS policy cache on its own: expiry by max_age (capped), the bound on domains and what is evicted
// first, the state file written 0600 and read back, and files that are not ours (corrupt, huge, bad entries).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createPolicyCache } from '../../../src/mailhost/mta-sts-cache.ts';
import { MAX_AGE_LIMIT, type StsPolicy } from '../../../src/mailhost/mta-sts-policy.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { createLogger } from '../../../src/util/logger.ts';

const T0 = Date.UTC(2026, 11, 6);
const policy = (mode: StsPolicy['mode'], maxAge = 86400, id = '1'): StsPolicy => ({ id, mode, mx: ['mx.example.test'], maxAge });

function rig(file?: string, maxEntries = 100) {
  const clock = new ManualClock(T0);
  const logs: Array<Record<string, unknown>> = [];
  const log = createLogger('debug', new Writable({ write: (c: Buffer, _e, cb) => void (logs.push(JSON.parse(c.toString()) as Record<string, unknown>), cb()) }));
  const cache = createPolicyCache({ ...(file ? { file } : {}), maxEntries, clock, log });
  return { clock, logs, cache };
}

test('a policy applies until max_age has passed, and no longer than a year', () => {
  const { clock, cache } = rig();
  cache.set('a.test', policy('enforce', 3600));
  cache.set('b.test', policy('enforce', 10 * MAX_AGE_LIMIT));
  clock.advance(3600 * 1000 - 1);
  assert.equal(cache.get('a.test')?.mode, 'enforce');
  clock.advance(1);
  assert.equal(cache.get('a.test'), undefined, 'expired');
  clock.set(T0 + MAX_AGE_LIMIT * 1000);
  assert.equal(cache.get('b.test'), undefined, 'capped at RFC 8461 §3.2 maximum');
});

test('bounded: expired entries go first, then none policies, then those expiring soonest', () => {
  const { clock, cache } = rig(undefined, 3);
  cache.set('short.test', policy('enforce', 10));
  cache.set('none.test', policy('none', 86400));
  cache.set('long.test', policy('enforce', 86400));
  clock.advance(11_000);
  cache.set('new1.test', policy('enforce', 86400));
  assert.equal(cache.size, 3);
  assert.equal(cache.get('none.test')?.mode, 'none', 'the expired one made room');
  cache.set('new2.test', policy('enforce', 86400));
  assert.equal(cache.get('none.test'), undefined, 'then the none policy');
  cache.set('new3.test', policy('testing', 90000));
  assert.equal(cache.size, 3);
  assert.equal(cache.get('long.test'), undefined, 'then the one expiring soonest');
  assert.ok(cache.get('new3.test') && cache.get('new2.test') && cache.get('new1.test'));
});

test('persisted 0600 and read back; expired and invalid entries are dropped on load', async () => {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'spamgate-sts-unit-')), 'sts.json');
  const a = rig(file);
  a.cache.set('keep.test', policy('enforce', 86400, 'abc'));
  a.cache.set('soon.test', policy('testing', 60));
  await a.cache.flush();
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const data = JSON.parse(readFileSync(file, 'utf8')) as { version: number; policies: Record<string, unknown> };
  data.policies['bad.test'] = { id: 'x', mode: 'enforce', mx: 'not a list', maxAge: 1, fetchedAt: T0, expiresAt: T0 + 1000 };
  writeFileSync(file, JSON.stringify(data));
  const c = createPolicyCache({ file, maxEntries: 100, clock: new ManualClock(T0 + 120_000), log: createLogger('silent') });
  assert.equal(c.get('keep.test')?.id, 'abc');
  assert.equal(c.get('soon.test'), undefined);
  assert.equal(c.get('bad.test'), undefined);
  assert.equal(c.size, 1);
});

test('a corrupt, foreign or oversized file is logged and the cache starts empty', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-sts-unit-'));
  for (const [name, content] of [
    ['truncated', '{"version":1,"policies":{"a.test":'],
    ['foreign', '{"version":7,"policies":{}}'],
    ['huge', `{"version":1,"policies":{},"pad":"${'x'.repeat(8192)}"}`],
  ] as const) {
    const file = path.join(dir, `${name}.json`);
    writeFileSync(file, content);
    const { cache, logs } = rig(file, 1);
    assert.equal(cache.size, 0, name);
    assert.ok(logs.some((l) => /^MTA-STS policy cache (corrupt|unreadable): starting empty$/.test(String(l.msg))), name);
  }
});

test('whatever a fetch can cache survives a restart: a long id, many mx patterns, an empty mx line (left out)', async () => {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'spamgate-sts-unit-')), 'sts.json');
  const a = rig(file);
  const mx = [...Array.from({ length: 150 }, (_, i) => `mx${i}.example.test`), ''];
  a.cache.set('big.test', { id: 'i'.repeat(100), mode: 'enforce', mx, maxAge: 86400 });
  assert.equal(a.cache.get('big.test')?.mx.length, 150, 'the empty pattern matches nothing and is left out');
  await a.cache.flush();
  const b = createPolicyCache({ file, maxEntries: 100, clock: new ManualClock(T0 + 1000), log: createLogger('silent') });
  const kept = b.get('big.test');
  assert.equal(kept?.mode, 'enforce', 'still enforced after the restart');
  assert.equal(kept?.mx.length, 150);
  assert.equal(kept?.id, 'i'.repeat(100));
});
