// The link secret on reload: a replaced or deleted <data_dir>/quarantine-links.secret voids the links sent without a
// restart (a deleted one is made anew); one that cannot be used keeps the running secret.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { loadConfig } from '../../../src/config/load.ts';
import { createRegistry } from '../../../src/metrics/registry.ts';
import { openQuarantineDigest } from '../../../src/quarantine/digest-setup.ts';
import { LINK_SECRET_FILE } from '../../../src/quarantine/link-secret.ts';
import { createLinkTokens } from '../../../src/quarantine/link-token.ts';
import { openQuarantine } from '../../../src/quarantine/store.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { envelope, message, T0, tempDir } from '../queue/helpers.ts';

test('a replaced, deleted or broken link secret on reload: old links void at once, a broken file changes nothing', async (t) => {
  const dataDir = await tempDir(t);
  const loaded = loadConfig({ inline: { local_domains: ['corp.example'], quarantine: { digest: { enabled: true, base_url: 'https://gw.example' } } }, dataDir });
  const clock = new ManualClock(T0);
  const registry = createRegistry(false);
  const quarantine = await openQuarantine({ dir: path.join(dataDir, 'quarantine'), maxAgeMs: 86_400_000, maxSize: 0, fsync: false, clock, registry, log: silentLogger });
  const id = await quarantine.store({ ...envelope({ rcptTo: ['alice@corp.example'] }), quarantine: { score: 12, decidedBy: 'q', symbols: [] } }, message('held'));
  const sink = { enqueue: () => Promise.reject(new Error('not here')) };
  const digest = await openQuarantineDigest({ loaded, quarantine, sink, hostname: 'mx.example', clock, registry, log: silentLogger });
  assert.ok(digest);
  const route = digest.routes['/quarantine/release'];
  assert.ok(route);
  const server = http.createServer((req, res) => void route(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const file = path.join(dataDir, LINK_SECRET_FILE);
  const tokenUnder = (text: string): string => createLinkTokens(Buffer.from(text.trim(), 'utf8')).sign({ action: 'release', id, recipient: 'alice@corp.example', expires: T0 + 86_400_000 });
  const status = async (token: string): Promise<number> => (await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/quarantine/release?t=${token}`)).status;

  const first = tokenUnder(readFileSync(file, 'utf8'));
  assert.equal(await status(first), 200);
  digest.reloadSecret();
  assert.equal(await status(first), 200, 'an unchanged file: links still good');

  writeFileSync(file, 'a-new-secret-of-enough-length\n', { mode: 0o600 });
  digest.reloadSecret();
  assert.equal(await status(first), 403, 'replaced: the old link is void');
  const second = tokenUnder('a-new-secret-of-enough-length');
  assert.equal(await status(second), 200);

  chmodSync(file, 0o644);
  digest.reloadSecret();
  assert.equal(await status(second), 200, 'a file open to others: the running secret stays');
  chmodSync(file, 0o600);

  rmSync(file);
  digest.reloadSecret();
  assert.ok(existsSync(file), 'made anew');
  assert.equal(await status(second), 403, 'deleted: void');
  assert.equal(await status(tokenUnder(readFileSync(file, 'utf8'))), 200);
});

/** The HTTP routes a digest opened with this inline config serves; `fullStack` gives it a user directory. */
async function digestRoutes(t: TestContext, inline: Record<string, unknown>, fullStack: boolean): Promise<string[]> {
  const dataDir = await tempDir(t);
  const clock = new ManualClock(T0);
  const registry = createRegistry(false);
  const quarantine = await openQuarantine({ dir: path.join(dataDir, 'quarantine'), maxAgeMs: 86_400_000, maxSize: 0, fsync: false, clock, registry, log: silentLogger });
  const sink = { enqueue: () => Promise.reject(new Error('not here')) };
  const directory = { resolveExplicit: () => ({ kind: 'unknown' as const }), resolve: () => ({ kind: 'unknown' as const }), isLocalDomain: () => true };
  const loaded = loadConfig({ inline: { local_domains: ['corp.example'], ...inline }, dataDir });
  const digest = await openQuarantineDigest({ loaded, quarantine, sink, hostname: 'mx.example', clock, registry, log: silentLogger, ...(fullStack ? { directory } : {}) });
  t.after(() => digest?.runner.close());
  return Object.keys(digest?.routes ?? {}).sort();
}

test('the allow, block and lists routes exist in full-stack mode with list_links only', async (t) => {
  const routesOf = (listLinks: boolean, fullStack: boolean): Promise<string[]> => digestRoutes(t, { quarantine: { digest: { enabled: true, base_url: 'https://gw.example', list_links: listLinks } } }, fullStack);
  assert.deepEqual(await routesOf(true, true), ['/quarantine/allow', '/quarantine/block', '/quarantine/delete', '/quarantine/lists', '/quarantine/release']);
  assert.deepEqual(await routesOf(false, true), ['/quarantine/delete', '/quarantine/release']);
  assert.deepEqual(await routesOf(true, false), ['/quarantine/delete', '/quarantine/release'], 'front-of mode: no per-user lists');
});

test('with the user_lists check in checks.disabled the lists decide nothing: no allow, block or lists routes (nor links)', async (t) => {
  const routes = await digestRoutes(t, { checks: { disabled: ['user_lists'] }, quarantine: { digest: { enabled: true, base_url: 'https://gw.example' } } }, true);
  assert.deepEqual(routes, ['/quarantine/delete', '/quarantine/release']);
});
