// MULTIAPPEND across a crash (RFC 3502 §6.3.11: all messages appended or none): a real child process commits a batch
// of three into a Maildir and is SIGKILLed at points inside the commit (maildir-batch-journal.ts's test hook); the
// store opened again shows none of the batch before its commit point and all of it after, never part, and a client's
// retry of an unacknowledged batch then leaves exactly one copy of each message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFile, mkdir, mkdtemp, readdir, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMaildirStore } from '../../../src/store/maildir-store.ts';

const U = 'alice@example.org';
const CHILD = join(import.meta.dirname, '../../helpers/multiappend-child.ts');
const GUARD = { timeout: 60_000 };
const batchMessage = (n: number): Buffer => Buffer.from(`Subject: batch ${n}\r\nFrom: a@b.example\r\nMessage-ID: <batch${n}@b.example>\r\n\r\nbody ${n}\r\n`);

async function tempRoot(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sg-multiappend-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function runChild(root: string, killAt: string | undefined): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }> {
  const env = { ...process.env };
  delete env['SPAMGATE_TEST_MULTIAPPEND_KILL_AT'];
  if (killAt !== undefined) env['SPAMGATE_TEST_MULTIAPPEND_KILL_AT'] = killAt;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, root, U], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, err });
    });
  });
}

/** The subjects in INBOX as a fresh store (a restarted process) sees them, and what is left beside the messages. */
async function reopen(root: string): Promise<{ subjects: string[]; tmp: string[]; journals: string[]; store: ReturnType<typeof createMaildirStore> }> {
  const store = createMaildirStore({ root, fsync: true });
  const metas = await store.list(U, 'INBOX');
  const subjects: string[] = [];
  for (const m of metas) subjects.push(/^Subject: (.*)$/m.exec((await store.read(U, 'INBOX', m.uid)).toString())?.[1] ?? '?');
  const md = store.maildirOf(U);
  return { subjects: subjects.sort(), tmp: await readdir(join(md, 'tmp')), journals: (await readdir(md)).filter((n) => n.startsWith('spamgate-batch')), store };
}

const ALL = ['batch 1', 'batch 2', 'batch 3'];

for (const point of ['journal', 'rename:1', 'rename:2', 'rename:3', 'listed']) {
  test(`killed at ${point}: none of the batch after reopening, and a retry stores each message once`, GUARD, async (t) => {
    const root = await tempRoot(t);
    const run = await runChild(root, point);
    assert.equal(run.signal, 'SIGKILL', `the child died at the hook: ${run.out} ${run.err}`);
    const after = await reopen(root);
    assert.deepEqual(after.subjects, [], 'no part of an unacknowledged batch is visible');
    assert.deepEqual(after.tmp, [], 'its staged files are gone');
    assert.deepEqual(after.journals, [], 'and its journal');
    // the client saw no OK and sends the batch again
    const again = await after.store.appendAll?.(U, 'INBOX', [{ raw: batchMessage(1) }, { raw: batchMessage(2), flags: ['\\Seen'] }, { raw: batchMessage(3) }]);
    assert.equal(again?.uids.length, 3);
    await after.store.settle();
    assert.deepEqual((await reopen(root)).subjects, ALL, 'one copy of each');
  });
}

test('killed after the commit point: all of the batch stays', GUARD, async (t) => {
  const root = await tempRoot(t);
  const run = await runChild(root, 'committed');
  assert.equal(run.signal, 'SIGKILL');
  const after = await reopen(root);
  assert.deepEqual(after.subjects, ALL);
  assert.deepEqual(after.journals, []);
});

test('without the hook the batch commits, numbered in order, and leaves no journal', GUARD, async (t) => {
  const root = await tempRoot(t);
  const run = await runChild(root, undefined);
  assert.equal(run.code, 0, run.err);
  const uids = JSON.parse(run.out) as number[];
  assert.equal(uids.length, 3);
  assert.ok((uids[0] as number) < (uids[1] as number) && (uids[1] as number) < (uids[2] as number), run.out);
  const after = await reopen(root);
  assert.deepEqual(after.subjects, ALL);
  assert.deepEqual(after.tmp, []);
  assert.deepEqual(after.journals, []);
});

const subjectsOf = async (store: ReturnType<typeof createMaildirStore>): Promise<string[]> => {
  const out: string[] = [];
  for (const m of await store.list(U, 'INBOX')) out.push(/^Subject: (.*)$/m.exec((await store.read(U, 'INBOX', m.uid)).toString())?.[1] ?? '?');
  return out.sort();
};

/** A batch half renamed in by another process (pid `pid`): one file in new/, one still in tmp/, named in its journal. */
async function halfBatch(md: string, pid: number): Promise<string[]> {
  const keys = [`1700000000.M1P${pid}Q1.other,S=10,W=10`, `1700000000.M2P${pid}Q2.other,S=10,W=10`];
  await writeFile(join(md, 'new', keys[0] as string), batchMessage(1));
  await writeFile(join(md, 'tmp', keys[1] as string), batchMessage(2));
  await writeFile(join(md, 'spamgate-batch.other.1'), `spamgate-batch 1\nowner ${pid} ${hostname()} \n${keys.join('\n')}\n`);
  return keys;
}

test("another process's batch: hidden while its writer lives, rolled back once it dies, by a process with the folder open", GUARD, async (t) => {
  const root = await tempRoot(t);
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  await store.append(U, 'INBOX', batchMessage(0));
  assert.deepEqual(await subjectsOf(store), ['batch 0']);
  const md = store.maildirOf(U);
  const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.after(() => sleeper.kill('SIGKILL'));
  const keys = await halfBatch(md, sleeper.pid ?? 0);
  // a full scan while the writer lives: its batch is not shown (nor numbered), its files and journal stay
  assert.deepEqual(await subjectsOf(store), ['batch 0'], 'no part of a batch before its commit point');
  assert.ok((await readdir(md)).includes('spamgate-batch.other.1'));
  assert.ok((await readdir(join(md, 'new'))).includes(keys[0] as string));
  // the writer dies: the next look rolls its batch back
  sleeper.kill('SIGKILL');
  await new Promise<void>((r) => sleeper.once('close', () => r()));
  assert.deepEqual(await subjectsOf(store), ['batch 0']);
  assert.ok(!(await readdir(md)).includes('spamgate-batch.other.1'), 'the dead batch is rolled back');
  assert.ok(!(await readdir(join(md, 'new'))).includes(keys[0] as string), 'its renamed file too');
  assert.deepEqual(await readdir(join(md, 'tmp')), [], 'and its staged one');
  await store.settle();
});

test("another process's batch shows once its writer removes the journal (the commit point), with no other change", GUARD, async (t) => {
  const root = await tempRoot(t);
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  const md = store.maildirOf(U);
  const keys = await halfBatch(md, process.ppid); // a live process of this host: the writer still committing
  await rename(join(md, 'tmp', keys[1] as string), join(md, 'new', keys[1] as string));
  assert.deepEqual(await subjectsOf(store), []);
  await rm(join(md, 'spamgate-batch.other.1'));
  assert.deepEqual(await subjectsOf(store), ['batch 1', 'batch 2'], 'the whole batch at once');
  await store.settle();
});

test("a dead writer's journal that names messages its writer did not make (corrupt or planted) removes none of them", GUARD, async (t) => {
  const root = await tempRoot(t);
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  await store.append(U, 'INBOX', batchMessage(0), { flags: ['\\Seen'] });
  await store.append(U, 'INBOX', batchMessage(9));
  const md = store.maildirOf(U);
  const existing = [...(await readdir(join(md, 'new'))), ...(await readdir(join(md, 'cur')))].map((n) => n.split(':')[0] as string);
  assert.equal(existing.length, 2);
  const gone = spawn('true', { stdio: 'ignore' });
  await new Promise<void>((r) => gone.once('close', () => r()));
  const dead = gone.pid ?? 0;
  // its own half batch (keys its pid made) goes; the messages of this process, named in it too, stay
  const own = `1700000000.M1P${dead}Q1.other,S=10,W=10`;
  await writeFile(join(md, 'new', own), batchMessage(1));
  await writeFile(join(md, 'spamgate-batch.other.2'), `spamgate-batch 1\nowner ${dead} ${hostname()} \n${[own, ...existing].join('\n')}\n`);
  const fresh = createMaildirStore({ root, fsync: false });
  assert.deepEqual(await subjectsOf(fresh), ['batch 0', 'batch 9'], 'no delivered message is rolled back');
  assert.ok(!(await readdir(join(md, 'new'))).includes(own), "the writer's own file is");
  assert.ok(!(await readdir(md)).includes('spamgate-batch.other.2'));
  await store.settle();
  await fresh.settle();
});

test("a process that opens the folder while another's batch is numbered but not committed keeps the batch's UIDs", GUARD, async (t) => {
  const root = await tempRoot(t);
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  await store.append(U, 'INBOX', batchMessage(0));
  await store.settle();
  const md = store.maildirOf(U);
  // the writer (alive) has renamed its batch in and listed it as UIDs 2 and 3, and its client is told so (APPENDUID)
  const keys = await halfBatch(md, process.ppid);
  await rename(join(md, 'tmp', keys[1] as string), join(md, 'new', keys[1] as string));
  await appendFile(join(md, 'dovecot-uidlist'), `2 :${keys[0]}\n3 :${keys[1]}\n`);
  const other = createMaildirStore({ root, fsync: false });
  assert.deepEqual((await other.list(U, 'INBOX')).map((m) => m.uid), [1], 'the batch is not shown before its commit point');
  await rm(join(md, 'spamgate-batch.other.1')); // the commit point
  assert.deepEqual((await other.list(U, 'INBOX')).map((m) => m.uid), [1, 2, 3], 'with the UIDs its writer gave');
  const third = createMaildirStore({ root, fsync: false });
  assert.deepEqual((await third.list(U, 'INBOX')).map((m) => m.uid), [1, 2, 3]);
  await other.settle();
  await third.settle();
});

test('a batch in flight elsewhere does not make every look at an unchanged folder a full scan; its commit is still seen', GUARD, async (t) => {
  const root = await tempRoot(t);
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  await store.append(U, 'INBOX', batchMessage(0));
  const md = store.maildirOf(U);
  const old = new Date('2020-01-01T00:00:00Z');
  const age = async (): Promise<void> => {
    await utimes(join(md, 'new'), old, old);
    await utimes(join(md, 'cur'), old, old);
  };
  // another host's batch, renamed in, its journal recent: live for up to an hour
  const key = `1700000000.M1P4242Q1.otherhost,S=10,W=10`;
  await writeFile(join(md, 'new', key), batchMessage(1));
  await writeFile(join(md, 'spamgate-batch.4242.1.ab'), `spamgate-batch 1\nowner 4242 other-host.example \n${key}\n`);
  await age();
  assert.deepEqual(await subjectsOf(store), ['batch 0']);
  await store.settle();
  // a file the directory stamps do not show: only a full scan would find it
  await writeFile(join(md, 'new', '1700000001.M9P1Q9.sentinel,S=10,W=10'), batchMessage(8));
  await age();
  assert.deepEqual(await subjectsOf(store), ['batch 0'], 'the unchanged folder was trusted, not scanned file by file');
  assert.deepEqual(await subjectsOf(store), ['batch 0']);
  // the commit point: the journal goes, and the next look shows the batch
  await rm(join(md, 'spamgate-batch.4242.1.ab'));
  assert.deepEqual(await subjectsOf(store), ['batch 0', 'batch 1', 'batch 8']);
  await store.settle();
});

test("one journal whose roll-back fails does not show the other batches: a live one stays hidden, a dead one is rolled back", GUARD, async (t) => {
  const root = await tempRoot(t);
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  const md = store.maildirOf(U);
  const gone = spawn('true', { stdio: 'ignore' });
  await new Promise<void>((r) => gone.once('close', () => r()));
  const dead = gone.pid ?? 0;
  // a dead writer's journal naming something in new/ that cannot be unlinked (a directory: EISDIR)
  const stuck = `1700000000.M1P${dead}Q1.other,S=10,W=10`;
  await mkdir(join(md, 'new', stuck));
  await writeFile(join(md, 'spamgate-batch.1.1.aa'), `spamgate-batch 1\nowner ${dead} ${hostname()} \n${stuck}\n`);
  // another dead writer's half batch, and another host's batch in flight
  const half = `1700000000.M2P${dead}Q2.other,S=10,W=10`;
  await writeFile(join(md, 'new', half), batchMessage(2));
  await writeFile(join(md, 'spamgate-batch.1.2.bb'), `spamgate-batch 1\nowner ${dead} ${hostname()} \n${half}\n`);
  const flying = '1700000000.M3P4343Q3.otherhost,S=10,W=10';
  await writeFile(join(md, 'new', flying), batchMessage(3));
  await writeFile(join(md, 'spamgate-batch.4343.1.cc'), `spamgate-batch 1\nowner 4343 other-host.example \n${flying}\n`);
  assert.deepEqual(await subjectsOf(store), [], 'no part of a batch that is not committed is shown');
  assert.ok(!(await readdir(join(md, 'new'))).includes(half), 'the other dead batch is rolled back');
  assert.ok((await readdir(md)).includes('spamgate-batch.1.1.aa'), 'the journal that could not be rolled back stays for the next look');
  await store.settle();
});

test('a message already shown is not taken away when a journal naming it is read only later (a scan between journal and rename)', GUARD, async (t) => {
  // the writer wrote its journal just after this process read the journals, and renamed a file in before it listed
  // new/: that file was shown. Leaving it out at the next look announced an EXPUNGE of a UID that came back later.
  const root = await tempRoot(t);
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  await store.append(U, 'INBOX', batchMessage(0));
  const md = store.maildirOf(U);
  const key = '1700000000.M1P4444Q1.otherhost,S=10,W=10';
  await writeFile(join(md, 'new', key), batchMessage(1));
  const seen = (await store.list(U, 'INBOX')).map((m) => m.uid);
  assert.equal(seen.length, 2);
  await writeFile(join(md, 'spamgate-batch.4444.1.dd'), `spamgate-batch 1\nowner 4444 other-host.example \n${key}\n`);
  await writeFile(join(md, 'new', '1700000001.M2P1Q2.poke,S=10,W=10'), batchMessage(2)); // new/ changes: a full scan
  assert.deepEqual((await store.list(U, 'INBOX')).map((m) => m.uid).slice(0, 2), seen, 'what was shown stays');
  await store.settle();
});
