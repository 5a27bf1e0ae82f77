// Requests from `spamgate queue` to a running instance (<spool>/control): what the instance applies when
// several wait for the same scan.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { processControlRequests, writeControlRequest, type ControlRequest } from '../../../src/queue/control.ts';
import { spoolPaths } from '../../../src/queue/spool-format.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { tempDir } from './helpers.ts';

const ID = '000000001-00001-aaaaaa';

/** Writes the requests in order, then lets the instance apply them in one scan; returns what it did. */
async function applied(t: Parameters<typeof tempDir>[0], reqs: ControlRequest[]): Promise<string[]> {
  const paths = spoolPaths(path.join(await tempDir(t), 'spool'));
  await mkdir(paths.tmp, { recursive: true });
  await mkdir(paths.control, { recursive: true });
  for (const r of reqs) await writeControlRequest(paths, r);
  const done: string[] = [];
  const record = (op: string) => async (id: string): Promise<boolean> => {
    done.push(`${op} ${id}`);
    return true;
  };
  await processControlRequests(paths, { flush: (id) => void done.push(`flush ${id ?? ''}`), remove: record('remove'), hold: record('hold'), release: record('release') }, silentLogger);
  return done;
}

test('hold then release of one message before the scan: the message ends released (the later command wins)', async (t) => {
  const done = await applied(t, [{ op: 'hold', id: ID }, { op: 'release', id: ID }]);
  assert.equal(done.at(-1), `release ${ID}`, done.join(', '));
});

test('release then hold of one message before the scan: the message ends on hold (the later command wins)', async (t) => {
  const done = await applied(t, [{ op: 'release', id: ID }, { op: 'hold', id: ID }]);
  assert.equal(done.at(-1), `hold ${ID}`, done.join(', '));
});

test('a digest round asked for is started, not waited for: the scan (deliveries, other requests) goes on meanwhile', async (t) => {
  const paths = spoolPaths(path.join(await tempDir(t), 'spool'));
  await mkdir(paths.tmp, { recursive: true });
  await mkdir(paths.control, { recursive: true });
  await writeControlRequest(paths, { op: 'qdigest_now' });
  await writeControlRequest(paths, { op: 'qdelete', id: ID });
  const done: string[] = [];
  const never = new Promise<unknown>(() => undefined);
  const quarantine = { release: async () => true, remove: async (id: string) => (done.push(`qdelete ${id}`), true), digest: (force: boolean) => (done.push(`digest ${force}`), never) };
  const scan = processControlRequests(paths, { flush: () => undefined, remove: async () => true, hold: async () => true, release: async () => true, quarantine }, silentLogger);
  const outcome = await Promise.race([scan.then(() => 'scanned'), new Promise((resolve) => setTimeout(() => resolve('still waiting'), 2000).unref())]);
  assert.equal(outcome, 'scanned');
  assert.deepEqual(done.sort(), ['digest true', `qdelete ${ID}`]);
});
