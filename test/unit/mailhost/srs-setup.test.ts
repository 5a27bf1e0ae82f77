// SRS at run time without sockets: off means nothing is opened, what counts as an SRS recipient, the reverse
// check at delivery uses the time of acceptance, and a max age shorter than the queue's is warned about.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, test } from 'node:test';
import { loadConfig } from '../../../src/config/load.ts';
import { createRegistry } from '../../../src/metrics/registry.ts';
import { openSrs } from '../../../src/mailhost/srs-setup.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { createLogger } from '../../../src/util/logger.ts';

const DAY = 86_400_000;
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function open(inline: Record<string, unknown>, clock = new ManualClock(Date.UTC(2026, 11, 6))) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-srs-setup-'));
  dirs.push(dataDir);
  const logs: Array<Record<string, unknown>> = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const { config } = loadConfig({ inline: { local_domains: ['example.org', 'example.net'], ...inline } });
  const srs = openSrs({ config, dataDir, clock, log: createLogger('info', out), registry: createRegistry(false) });
  return { srs, dataDir, logs, clock };
}

test('srs.enabled: false opens nothing (no secret file is made)', () => {
  const { srs, dataDir } = open({ srs: { enabled: false } });
  assert.equal(srs, undefined);
  assert.equal(existsSync(path.join(dataDir, 'srs.secret')), false);
});

test('SRS recipients are SRS0/SRS1 local parts at the SRS domain only; the check at delivery uses the time of acceptance', () => {
  const { srs, clock } = open({ srs: { domain: 'example.net', max_age: '21d' } });
  assert.ok(srs);
  assert.equal(srs.domain, 'example.net');
  const address = srs.forwardSender('alice@gmail.example', 'team@example.org');
  assert.match(address, /^SRS0=[^=]{4}=[A-Z2-7]{2}=gmail\.example=alice@example\.net$/);
  assert.ok(srs.handles(address));
  assert.ok(srs.handles(address.replace('@example.net', '@EXAMPLE.NET.')));
  assert.ok(!srs.handles(address.replace('@example.net', '@example.org')), 'another local domain: the user directory decides');
  assert.ok(!srs.handles('alice@example.net'));
  const accepted = clock.now() + 21 * DAY;
  clock.advance(30 * DAY);
  assert.deepEqual(srs.checkRecipient(address, ''), { kind: 'refused', reason: 'expired' }, 'at RCPT, now');
  assert.deepEqual(srs.reverse(address, '', accepted), { kind: 'ok', scheme: 'SRS0', address: 'alice@gmail.example' }, 'queued while it was good');
  assert.deepEqual(srs.reverse(address, 'someone@else.example', accepted), { kind: 'refused', reason: 'not-bounce' });
  assert.equal(srs.forwardSender('bob@example.org', 'team@example.org'), 'bob@example.org');
  assert.equal(srs.forwardSender('', 'team@example.org'), '');
});

test('srs.bounces_only: false lets any sender through; a max age below queue.max_age is warned about at start', () => {
  const { srs, logs } = open({ srs: { bounces_only: false, max_age: '2d' } });
  assert.ok(srs);
  const address = srs.forwardSender('alice@gmail.example', 'team@example.org');
  assert.equal(srs.checkRecipient(address, 'someone@else.example').kind, 'ok');
  assert.ok(logs.some((l) => l.level === 'warn' && /shorter than queue\.max_age/.test(String(l.msg))), JSON.stringify(logs));
  assert.ok(!open({}).logs.some((l) => l.level === 'warn'), 'no warning with the defaults');
});
