// quarantine list and show on a file whose receivedAt no date can hold (finite, as the envelope check lets it be,
// but past ±8.64e15 ms: a file damaged on disk or edited by hand): the time falls back to the one in the id,
// never a RangeError that stops the whole listing or the show.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { listQuarantine, showQuarantined } from '../../../src/commands/quarantine-view.ts';
import type { CommandIo } from '../../../src/commands/types.ts';
import { encodeHeader, idTime } from '../../../src/queue/spool-format.ts';
import type { QueueEnvelope } from '../../../src/queue/types.ts';

function io(): { io: CommandIo; out: () => string } {
  const stdout = new PassThrough();
  let out = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  const stdin = new PassThrough();
  stdin.end();
  return { io: { stdout, stderr: new PassThrough(), stdin, isTty: false }, out: () => out };
}

test('quarantine list --json and show: a receivedAt no date holds falls back to the time in the id', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-qview-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const id = 'mhx3k2a00-00001-abcdef';
  const envelope = { mailFrom: 's@remote.example', rcptTo: ['u@example.test'], sessionId: 'x', clientIp: '192.0.2.1', receivedAt: 1e17, quarantine: { score: 12, decidedBy: 'quarantine', symbols: [] } } as QueueEnvelope;
  writeFileSync(path.join(dir, `${id}.msg`), Buffer.concat([encodeHeader(envelope), Buffer.from('Subject: x\r\n\r\nbody\r\n')]));
  const expected = new Date(idTime(id)).toISOString();
  const list = io();
  assert.equal(await listQuarantine(dir, true, list.io, Date.now()), 0);
  assert.equal((JSON.parse(list.out().trim()) as { receivedAt: string }).receivedAt, expected);
  const show = io();
  assert.equal(await showQuarantined(dir, id, false, show.io), 0);
  const shown = JSON.parse(show.out().slice(0, show.out().indexOf('\n\n'))) as { receivedAt: string; envelope: { receivedAt: number } };
  assert.equal(shown.receivedAt, expected);
  assert.equal(shown.envelope.receivedAt, 1e17, 'the stored envelope is shown as it is');
});
