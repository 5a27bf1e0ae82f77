// Two processes writing one Maildir folder at once (a second spamgate on the same mail root; Dovecot's LDA would be
// the same): every file keeps one UID of its own, the uid list ascends, the next UID is above them all, the UID an
// APPEND or COPY answered is the one stored, and a fresh store (a restart) sees each message once under that UID.
// RFC 3501 §2.3.1.1: UIDs strictly ascending, never reused within one UIDVALIDITY.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFile, mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseUidList } from '../../../src/store/maildir-files.ts';
import { createMaildirStore } from '../../../src/store/maildir-store.ts';

const U = 'dana@example.org';
const WRITER = join(import.meta.dirname, '..', '..', 'helpers', 'maildir-writer.ts');

interface Writer {
  child: ChildProcess;
  ready: Promise<void>;
  result: Promise<Record<string, number>>;
}

function startWriter(root: string, folder: string, name: string, count: number, mode: 'append' | 'copy' | 'read'): Writer {
  const child = spawn(process.execPath, ['--import', 'tsx', WRITER, root, U, folder, name, String(count), mode], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  let readyDone: () => void = () => undefined;
  const ready = new Promise<void>((r) => (readyDone = r));
  const result = new Promise<Record<string, number>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: no result within 60 s`)), 60_000);
    lines.on('line', (line) => {
      if (line === 'ready') return readyDone();
      clearTimeout(timer);
      resolve(JSON.parse(line) as Record<string, number>);
    });
    child.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`${name} exited with ${code}`))));
  });
  result.catch(() => readyDone());
  return { child, ready, result };
}

/** Runs the writers together (started at one signal) and returns what each reported. */
async function runTogether(writers: Writer[]): Promise<Record<string, number>[]> {
  try {
    await Promise.all(writers.map((w) => w.ready));
    for (const w of writers) w.child.stdin?.write('go\n');
    return await Promise.all(writers.map((w) => w.result));
  } finally {
    for (const w of writers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
  }
}

/** Checks the folder on disk and through two fresh stores against the UIDs the writers were answered. */
async function checkFolder(root: string, folder: string, answered: Record<string, number>): Promise<void> {
  const seed = createMaildirStore({ root, fsync: false });
  const dir = folder === 'INBOX' ? seed.maildirOf(U) : join(seed.maildirOf(U), `.${folder}`);
  const text = await readFile(join(dir, 'dovecot-uidlist'), 'utf8');
  const lines = text.split('\n').slice(1).filter((l) => l !== '');
  const listed = new Map<string, number>();
  let last = 0;
  for (const line of lines) {
    const m = /^(\d+) :([^:]+)/.exec(line);
    assert.ok(m?.[1] && m[2], `uid list line ${JSON.stringify(line)}`);
    const uid = Number(m[1]);
    assert.ok(uid > last, `uid list not ascending: ${uid} after ${last}`);
    last = uid;
    assert.ok(!listed.has(m[2]), `${m[2]} listed twice`);
    listed.set(m[2], uid);
  }
  const list = parseUidList(text);
  assert.ok(list);
  assert.ok(list.nextUid > last, `next UID ${list.nextUid} not above ${last}`);
  const files = [...(await readdir(join(dir, 'new'))), ...(await readdir(join(dir, 'cur')))].map((f) => f.split(':')[0] as string);
  const expected = Object.keys(answered).length;
  assert.equal(files.length, expected, 'one file per message');
  for (const key of files) assert.ok(listed.has(key), `file ${key} has no UID in the list`);

  const seen: [number, string][][] = [];
  for (let round = 0; round < 2; round++) {
    const store = createMaildirStore({ root, fsync: false }); // a restart each round
    const box = await store.open(U, folder, { claimRecent: false });
    const pairs: [number, string][] = [];
    for (const m of box.messages) {
      const raw = (await store.read(U, folder, m.uid)).toString('latin1');
      pairs.push([m.uid, /^Subject: (\S+)/m.exec(raw)?.[1] ?? '?']);
    }
    assert.equal(new Set(pairs.map((p) => p[0])).size, expected, 'distinct UIDs');
    assert.equal(new Set(pairs.map((p) => p[1])).size, expected, 'each message once');
    const wrong = pairs.filter(([uid, subject]) => uid !== answered[subject]).map(([uid, subject]) => `${subject} stored under ${uid}, answered ${answered[subject]}`);
    assert.deepEqual(wrong.slice(0, 3), [], `${wrong.length} of ${expected} messages not under the UID answered`);
    assert.ok(box.uidNext > Math.max(...pairs.map((p) => p[0])), 'UIDNEXT above every UID');
    seen.push(pairs);
    await store.settle();
  }
  assert.deepEqual(seen[1], seen[0], 'UIDs stable across a restart');
}

async function tempRoot(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'sg-two-writers-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const store = createMaildirStore({ root, fsync: false });
  await store.ensureUser(U);
  await store.append(U, 'INBOX', Buffer.from('Subject: seed-0\r\n\r\nfirst\r\n'));
  return root;
}

test('two processes appending to one folder at once: distinct, ascending UIDs, as answered', { timeout: 120_000 }, async (t) => {
  const root = await tempRoot(t);
  const [a, b] = await runTogether([startWriter(root, 'INBOX', 'a', 150, 'append'), startWriter(root, 'INBOX', 'b', 150, 'append')]);
  await checkFolder(root, 'INBOX', { 'seed-0': 1, ...a, ...b });
});

test('appends, COPYs and a third process re-reading the folder: distinct UIDs, as answered', { timeout: 120_000 }, async (t) => {
  const root = await tempRoot(t);
  const [a, b] = await runTogether([
    startWriter(root, 'INBOX', 'a', 100, 'append'),
    startWriter(root, 'INBOX', 'c', 100, 'copy'),
    startWriter(root, 'INBOX', 'r', 4000, 'read'),
  ]);
  await checkFolder(root, 'INBOX', { 'seed-0': 1, ...a, ...b });
});

test('UIDs are handed out under the lock: what another writer listed meanwhile is kept, and a file it numbered keeps its UID', { timeout: 30_000 }, async (t) => {
  const root = await tempRoot(t);
  const store = createMaildirStore({ root, fsync: false });
  await store.list(U, 'INBOX');
  const md = store.maildirOf(U);
  const before = new Set(await readdir(join(md, 'new')));
  // Another program holds dovecot-uidlist.lock (a live process on this host) while our append is on its way.
  const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)'], { stdio: 'ignore' });
  t.after(() => void holder.kill('SIGKILL'));
  await writeFile(join(md, 'dovecot-uidlist.lock'), `${holder.pid}:${hostname()}`);
  const appended = store.append(U, 'INBOX', Buffer.from('Subject: ours\r\n\r\nx\r\n'));
  let ours: string | undefined;
  for (let i = 0; i < 500 && ours === undefined; i++) {
    ours = (await readdir(join(md, 'new'))).find((f) => !before.has(f)); // in place, waiting for its UID
    if (ours === undefined) await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(ours, 'our file is placed before the lock is taken');
  // Meanwhile the other writer (as Dovecot's sync would) numbers our file and delivers one of its own.
  const theirs = '1700000000.M1P1.other.host,S=22,W=22';
  await writeFile(join(md, 'new', theirs), 'Subject: theirs\r\n\r\nx\r\n');
  await appendFile(join(md, 'dovecot-uidlist'), `4 :${ours}\n5 :${theirs}\n`);
  await unlink(join(md, 'dovecot-uidlist.lock'));
  assert.equal((await appended).uid, 4, 'the UID the other writer gave our file');
  const next = await store.append(U, 'INBOX', Buffer.from('Subject: after\r\n\r\nx\r\n'));
  assert.equal(next.uid, 6, 'above every UID in the list');
  await store.settle();
  const answered = { 'seed-0': 1, ours: 4, theirs: 5, after: 6 };
  await checkFolder(root, 'INBOX', answered);
});

test('a folder snapshot is not used once the uid list changed in place (same inode and size): no stale next UID', async (t) => {
  const root = await tempRoot(t);
  const a = createMaildirStore({ root, fsync: false });
  await a.append(U, 'INBOX', Buffer.from('Subject: two\r\n\r\nx\r\n'));
  await a.settle(); // writes spamgate.index
  const md = a.maildirOf(U);
  const uidlist = join(md, 'dovecot-uidlist');
  await writeFile(uidlist, (await readFile(uidlist, 'latin1')).replace(/ N\d\n/, ' N9\n'), 'latin1'); // same length
  const b = createMaildirStore({ root, fsync: false });
  assert.equal((await b.status(U, 'INBOX')).uidNext, 9);
  assert.equal((await b.append(U, 'INBOX', Buffer.from('Subject: three\r\n\r\nx\r\n'))).uid, 9);
  await b.settle();
});
