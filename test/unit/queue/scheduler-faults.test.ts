// The scheduler never strands a message it was handed: mail committed while the spool is being
// loaded at start-up goes out, and a message file that cannot be read for a while is retried, not
// forgotten until the next restart.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readStateFile, stateFile } from '../../../src/queue/spool-format.ts';
import type { Spool } from '../../../src/queue/spool.ts';
import { envelope, message, queueRig } from './helpers.ts';

const MIN = 60_000;

test('a message enqueued while the scheduler loads the spool is delivered without a restart', async (t) => {
  let sneaked: string | undefined;
  const rig = await queueRig(t, {
    wrapSpool: (spool): Spool => ({
      ...spool,
      // The SMTP listener is up before the queue starts: a client's message lands mid-load.
      load: async () => {
        const listed = await spool.load();
        sneaked = (await spool.enqueue(envelope({ sessionId: 'mid-load' }), message('midload'))).id;
        return listed;
      },
    }),
  });
  assert.ok(sneaked);
  await rig.sink.waitForMessages(1, 5000);
  await rig.scheduler.runDue();
  assert.match(rig.sink.messages[0]?.raw.toString() ?? '', /Subject: midload/);
  assert.equal(rig.scheduler.size(), 0);
});

test('a message whose file cannot be read for a while (EMFILE) is retried, not dropped', async (t) => {
  let failures = 1;
  const rig = await queueRig(t, {
    wrapSpool: (spool): Spool => ({
      ...spool,
      read: async (id) => {
        if (failures-- > 0) throw Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' });
        return spool.read(id);
      },
    }),
  });
  await rig.spool.enqueue(envelope(), message('emfile'));
  await rig.scheduler.runDue();
  assert.equal(rig.sink.messages.length, 0);
  assert.equal(rig.scheduler.size(), 1, 'still queued');
  rig.clock.advance(MIN);
  await rig.scheduler.runDue();
  assert.equal(rig.sink.messages.length, 1);
  assert.equal(rig.scheduler.size(), 0);
});

test('a message file that is gone is dropped', async (t) => {
  const rig = await queueRig(t, {
    wrapSpool: (spool): Spool => ({
      ...spool,
      read: async () => {
        throw Object.assign(new Error('ENOENT: no such file or directory'), { code: 'ENOENT' });
      },
    }),
  });
  await rig.spool.enqueue(envelope(), message('gone'));
  await rig.scheduler.runDue();
  assert.equal(rig.scheduler.size(), 0);
  assert.equal(rig.sink.messages.length, 0);
});

test('a hold during an attempt, then a release while the hold is still being saved: the release is what stays on disk', async (t) => {
  const gate = <T = void>() => {
    let open!: (v: T) => void;
    const p = new Promise<T>((r) => (open = r));
    return { p, open };
  };
  const reading = gate();
  const slowSave = gate();
  let saves = 0;
  let started!: () => void;
  const inFlight = new Promise<void>((r) => (started = r));
  const rig = await queueRig(t, {
    wrapSpool: (spool): Spool => ({
      ...spool,
      read: async (id) => {
        started();
        await reading.p;
        return spool.read(id);
      },
      // the state as handed over (the spool serializes it at once), written after the fsync's delay
      saveState: async (id, state) => {
        const copy = structuredClone(state);
        if (++saves === 2) await slowSave.p; // the save of the hold that follows the attempt
        return spool.saveState(id, copy);
      },
    }),
  });
  await rig.sink.down();
  const { id } = await rig.spool.enqueue(envelope(), message('held-then-released'));
  await inFlight;
  assert.equal(await rig.scheduler.hold(id), true);
  reading.open();
  // the attempt defers (sink down) and saves its state; then the hold is saved again, slowly
  for (let i = 0; i < 200 && saves < 2; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(saves, 2);
  const released = rig.scheduler.release(id);
  await new Promise((r) => setTimeout(r, 50));
  slowSave.open();
  assert.equal(await released, true);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal((await readStateFile(stateFile(rig.spool.paths, id)))?.held, undefined, 'released: no hold left on disk for the next start');
});
