// Test helper: runs Maildir writer processes (maildir-writer.ts) together and checks the folder they leave, on disk
// and through fresh stores (a restart), against the UIDs their APPENDs and COPYs were answered. RFC 3501 §2.3.1.1:
// UIDs strictly ascending, never reused within one UIDVALIDITY.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseUidList } from '../../src/store/maildir-files.ts';
import { createMaildirStore } from '../../src/store/maildir-store.ts';

const WRITER = join(import.meta.dirname, 'maildir-writer.ts');

export interface Writer {
  child: ChildProcess;
  ready: Promise<void>;
  result: Promise<Record<string, number>>;
}

export function startWriter(
  root: string,
  user: string,
  folder: string,
  name: string,
  count: number,
  mode: 'append' | 'copy' | 'read',
  as?: { uid: number; gid: number },
): Writer {
  const child = spawn(process.execPath, ['--import', 'tsx', WRITER, root, user, folder, name, String(count), mode], { stdio: ['pipe', 'pipe', 'inherit'], ...(as ?? {}) });
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
export async function runTogether(writers: Writer[]): Promise<Record<string, number>[]> {
  try {
    await Promise.all(writers.map((w) => w.ready));
    for (const w of writers) w.child.stdin?.write('go\n');
    return await Promise.all(writers.map((w) => w.result));
  } finally {
    for (const w of writers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
  }
}

/** Checks the folder on disk and through two fresh stores against the UIDs the writers were answered. */
export async function checkFolder(root: string, user: string, folder: string, answered: Record<string, number>): Promise<void> {
  const seed = createMaildirStore({ root, fsync: false });
  const dir = folder === 'INBOX' ? seed.maildirOf(user) : join(seed.maildirOf(user), `.${folder}`);
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
    const box = await store.open(user, folder, { claimRecent: false });
    const pairs: [number, string][] = [];
    for (const m of box.messages) {
      const raw = (await store.read(user, folder, m.uid)).toString('latin1');
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

