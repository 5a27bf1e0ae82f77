// The durable spool: reopen finds what was enqueued, tmp leftovers are cleaned, state is atomic,
// a message whose enqueue() resolved survives kill -9 of the process, and a short write is never acknowledged.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createRegistry } from '../../../src/metrics/registry.ts';
import { ID_PATTERN, initialState, spoolPaths } from '../../../src/queue/spool-format.ts';
import { openSpool, writeAll } from '../../../src/queue/spool.ts';
import { createSpoolProgress, MAX_PROGRESS_BYTES, MAX_STEP_LENGTH } from '../../../src/queue/spool-progress.ts';
import { capturingLogger } from '../../helpers/capture-logs.ts';
import { ManualClock, systemClock } from '../../../src/util/clock.ts';
import { processIdentity } from '../../../src/util/process-identity.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { envelope, message, T0, tempDir } from './helpers.ts';

const open = (dir: string, clock = new ManualClock(T0)) => openSpool({ dir, fsync: true, clock, registry: createRegistry(false), log: silentLogger });

test('enqueued messages survive a reopen byte for byte; ids are unique and sortable', async (t) => {
  const dir = path.join(await tempDir(t), 'spool');
  const clock = new ManualClock(T0);
  const spool = await open(dir, clock);
  const ids: string[] = [];
  const raw = Buffer.concat([message('one'), Buffer.from([0x00, 0xff, 0x0a, 0x2e])]);
  for (let i = 0; i < 5; i++) {
    ids.push((await spool.enqueue(envelope({ sessionId: `s${i}` }), raw)).id);
    clock.advance(i % 2);
  }
  assert.equal(new Set(ids).size, 5);
  assert.deepEqual([...ids].sort(), ids, 'ids sort in enqueue order');
  for (const id of ids) assert.match(id, ID_PATTERN);
  await spool.close();
  const again = await open(dir);
  t.after(() => again.close());
  const loaded = await again.load();
  assert.deepEqual(loaded.map((e) => e.id), ids);
  assert.equal(loaded[2]?.envelope.sessionId, 's2');
  assert.equal(loaded[2]?.size, raw.length);
  const read = await again.read(ids[0] as string);
  assert.ok(read.message.equals(raw));
  assert.deepEqual(read.envelope, envelope({ sessionId: 's0' }));
});

test('tmp leftovers and orphan state files are cleaned at start; state round-trips', async (t) => {
  const dir = path.join(await tempDir(t), 'spool');
  const first = await open(dir);
  const { id } = await first.enqueue(envelope(), message('state'));
  const st = initialState(envelope());
  st.attempts = 2;
  st.nextAttemptAt = T0 + 5000;
  await first.saveState(id, st);
  await first.close();
  await writeFile(path.join(dir, 'tmp', 'half-written.msg'), 'SGQ1 99\n{"mailFrom"');
  await writeFile(path.join(dir, 'state', '000000000-00000-abcdef.json'), '{}');
  const spool = await open(dir);
  t.after(() => spool.close());
  const [entry, ...rest] = await spool.load();
  assert.equal(rest.length, 0);
  assert.equal(entry?.state?.attempts, 2);
  assert.equal(entry?.state?.nextAttemptAt, T0 + 5000);
  assert.deepEqual(await readdir(path.join(dir, 'tmp')), []);
  assert.deepEqual(await readdir(path.join(dir, 'state')), [`${id}.json`]);
  await spool.remove(id);
  assert.deepEqual(await spool.load(), []);
});

test('damaged message files are set aside in corrupt/ (with their state), never delivered or deleted; damaged states start over', async (t) => {
  const dir = path.join(await tempDir(t), 'spool');
  const registry = createRegistry(false);
  const first = await openSpool({ dir, fsync: true, clock: new ManualClock(T0), registry, log: silentLogger });
  const good = await first.enqueue(envelope(), message('good'));
  const noAttempts = await first.enqueue(envelope(), message('state without attempts'));
  const noRecipients = await first.enqueue(envelope({ rcptTo: ['a@dest.test', 'b@dest.test'] }), message('state without recipients'));
  const st = initialState(envelope());
  st.attempts = 1;
  await first.saveState(good.id, st);
  const { attempts: _a, ...withoutAttempts } = st;
  await writeFile(path.join(dir, 'state', `${noAttempts.id}.json`), JSON.stringify(withoutAttempts));
  await writeFile(path.join(dir, 'state', `${noRecipients.id}.json`), JSON.stringify({ ...st, recipients: {} }));
  await first.close();
  const damaged = {
    '000000001-00001-aaaaaa': 'SGQ1 4\nnull\nSubject: x\r\n\r\nbody\r\n',
    '000000001-00002-aaaaaa': 'SGQ1 18\n{"mailFrom":"a@b"}\nSubject: x\r\n\r\n',
    '000000001-00003-aaaaaa': 'SGQ1 9\n{"mailFro\nSubject: x\r\n\r\n',
    '000000001-00004-aaaaaa': 'not a spool file at all',
  };
  for (const [id, text] of Object.entries(damaged)) await writeFile(path.join(dir, 'msg', `${id}.msg`), text);
  await writeFile(path.join(dir, 'state', '000000001-00001-aaaaaa.json'), JSON.stringify(st));

  const spool = await openSpool({ dir, fsync: true, clock: new ManualClock(T0), registry, log: silentLogger });
  t.after(() => spool.close());
  const loaded = await spool.load();
  assert.deepEqual(loaded.map((e) => e.id).sort(), [good.id, noAttempts.id, noRecipients.id].sort());
  assert.equal(loaded.find((e) => e.id === good.id)?.state?.attempts, 1, 'a sound state is kept');
  assert.equal(loaded.find((e) => e.id === noAttempts.id)?.state, undefined, 'a state without attempts starts over');
  assert.equal(loaded.find((e) => e.id === noRecipients.id)?.state, undefined, 'a state that lost its recipients starts over');
  const aside = (await readdir(path.join(dir, 'corrupt'))).sort();
  assert.deepEqual(aside, [...Object.keys(damaged).map((id) => `${id}.msg`), '000000001-00001-aaaaaa.json'].sort());
  for (const [id, text] of Object.entries(damaged)) assert.equal(await readFile(path.join(dir, 'corrupt', `${id}.msg`), 'utf8'), text, 'moved byte for byte');
  assert.match(await registry.metrics(), /^spamgate_queue_corrupt_files 4$/m);
});

test('a second instance cannot open a spool in use', async (t) => {
  const dir = path.join(await tempDir(t), 'spool');
  const spool = await open(dir);
  t.after(() => spool.close());
  await writeFile(path.join(dir, 'lock'), `${process.ppid}\n`);
  await assert.rejects(open(dir), /in use by process/);
});

test('a lock left by a crash is taken over when its pid now belongs to another process', async (t) => {
  const dir = path.join(await tempDir(t), 'spool');
  await (await open(dir)).close();
  const parent = processIdentity(process.ppid);
  if (parent === undefined) return t.skip('no /proc here: only the pid can be checked');
  // The parent runs, but it is not the process that wrote this lock (another start time): stale.
  await writeFile(path.join(dir, 'lock'), `${process.ppid}\n${parent.replace(/\/\d+$/, '/1')}\n`);
  const spool = await open(dir);
  t.after(() => spool.close());
  assert.match(await readFile(path.join(dir, 'lock'), 'utf8'), new RegExp(`^${process.pid}\n`));
  // The same pid with its own identity is a live owner: refused.
  await writeFile(path.join(dir, 'lock'), `${process.ppid}\n${parent}\n`);
  await assert.rejects(open(dir), /in use by process/);
});

test('of several processes opening one spool at the same instant, exactly one gets it', async (t) => {
  const dir = path.join(await tempDir(t), 'spool');
  const at = Date.now() + 2500; // past the children's start-up; they busy-wait for it
  const children = [0, 1, 2, 3].map(() => spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./open-spool-child.ts', import.meta.url)), dir, String(at)], { stdio: ['pipe', 'pipe', 'inherit'] }));
  t.after(() => {
    for (const c of children) c.kill('SIGKILL');
  });
  const said = await Promise.all(
    children.map(async (c) => {
      let out = '';
      for await (const chunk of c.stdout) {
        out += String(chunk);
        if (out.includes('\n')) break;
      }
      return out.trim();
    }),
  );
  for (const c of children) c.stdin.end();
  await Promise.all(children.map((c) => (c.exitCode === null ? once(c, 'exit') : undefined)));
  assert.deepEqual([...said].sort(), ['busy', 'busy', 'busy', 'open'], said.join(','));
});

/** A child holding the spool's lock for `ms` as the command `as` would; resolves once it holds it. */
async function lockHolder(t: TestContext, dir: string, ms: number, as: 'queue' | 'serve'): Promise<ChildProcess> {
  await mkdir(dir, { recursive: true });
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./hold-spool-lock-child.ts', import.meta.url)), spoolPaths(dir).lock, String(ms), as], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  for await (const chunk of child.stdout) {
    out += String(chunk);
    if (out.includes('\n')) break;
  }
  assert.equal(out.trim(), 'held');
  return child;
}

test('a spool held for a moment by `spamgate queue` on a stopped instance: the opening waits for it; one held by a serve is in use at once', async (t) => {
  const dir = path.join(await tempDir(t), 'spool');
  await lockHolder(t, dir, 1500, 'queue');
  const spool = await openSpool({ dir, fsync: false, clock: systemClock, registry: createRegistry(false), log: silentLogger });
  await spool.close();
  const other = path.join(await tempDir(t), 'spool');
  await lockHolder(t, other, 20_000, 'serve');
  const started = Date.now();
  await assert.rejects(openSpool({ dir: other, fsync: false, clock: systemClock, registry: createRegistry(false), log: silentLogger }), /spool .* is in use by process \d+/);
  assert.ok(Date.now() - started < 10_000, 'no wait for another serve');
});

test('a lock whose holder ended between reading the lock and asking what it is (a zombie: cmdline empty) is waited for, not refused as in use', async (t) => {
  // a forked child that exits at once stays a zombie while its parent sleeps without reaping it
  const script = 'import os, time\npid = os.fork()\nif pid == 0: os._exit(0)\nprint(pid, flush=True)\ntime.sleep(10)\n';
  const sh = spawn('python3', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => sh.kill('SIGKILL'));
  let out = '';
  for await (const chunk of sh.stdout) {
    out += String(chunk);
    if (out.includes('\n')) break;
  }
  const zombie = Number(out.trim());
  for (let i = 0; i < 50 && (await readFile(`/proc/${zombie}/cmdline`, 'utf8').catch(() => 'gone')) !== ''; i++) await new Promise((r) => setTimeout(r, 20));
  const dir = path.join(await tempDir(t), 'spool');
  await mkdir(dir, { recursive: true });
  const lock = spoolPaths(dir).lock;
  await writeFile(lock, `${zombie}\n${processIdentity(zombie) ?? ''}\n`);
  const opening = openSpool({ dir, fsync: false, clock: systemClock, registry: createRegistry(false), log: silentLogger });
  const early = await Promise.race([opening.then(() => 'opened', (err: Error) => `refused: ${err.message}`), new Promise((r) => setTimeout(() => r('waiting'), 1000))]);
  assert.equal(early, 'waiting');
  // the lock goes (as the ended holder's would): the waiting start takes it
  await unlink(lock);
  const spool = await opening;
  await spool.close();
});

test('kill -9 right after enqueue resolved: the message is there after restart', async (t) => {
  const dir = path.join(await tempDir(t), 'spool');
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./enqueue-child.ts', import.meta.url)), dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  for await (const chunk of child.stdout) {
    out += String(chunk);
    if (out.includes('\n')) break;
  }
  child.kill('SIGKILL');
  await once(child, 'exit');
  const id = /enqueued (\S+)/.exec(out)?.[1];
  assert.ok(id, `child said ${out}`);
  const spool = await open(dir);
  t.after(() => spool.close());
  const loaded = await spool.load();
  const found = loaded.find((e) => e.id === id);
  assert.ok(found, 'acknowledged message present');
  assert.equal(found.envelope.sessionId, 'k9');
  assert.equal((await spool.read(id)).message.length, found.size);
  assert.deepEqual(await readdir(path.join(dir, 'tmp')), [], 'interrupted writes cleaned');
  for (const e of loaded) assert.ok((await spool.read(e.id)).message.toString().startsWith('Subject: crash'), 'every committed file is whole');
});

test('writeAll finishes short writes and surfaces the error that stops them', async () => {
  const got: Buffer[] = [];
  const dribble = {
    // At most 7 bytes per call, as a nearly full disk might.
    writev: async (bufs: Buffer[]) => {
      const chunk = Buffer.concat(bufs).subarray(0, 7);
      got.push(chunk);
      return { bytesWritten: chunk.length, buffers: bufs };
    },
  };
  const parts = [Buffer.from('SGQ1 2\n{}\n'), Buffer.alloc(0), Buffer.from('Subject: x\r\n\r\nbody\r\n')];
  await writeAll(dribble, parts);
  assert.equal(Buffer.concat(got).toString(), Buffer.concat(parts).toString());
  let calls = 0;
  const full = {
    writev: async (bufs: Buffer[]) => {
      if (calls++ > 0) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      return { bytesWritten: 3, buffers: bufs };
    },
  };
  await assert.rejects(writeAll(full, parts), /ENOSPC/);
});

test('a write cut short by a file size limit is refused, not acknowledged truncated', async (t) => {
  const dir = path.join(await tempDir(t), 'spool');
  const child = fileURLToPath(new URL('./enqueue-big-child.ts', import.meta.url));
  // ulimit -f counts 1024-byte blocks: 16 KiB, less than the 40 KB message. Node ignores SIGXFSZ.
  const proc = spawn('sh', ['-c', 'ulimit -f 16 && exec "$0" --import tsx "$1" "$2"', process.execPath, child, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
  t.after(() => clearTimeout(timer));
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await once(proc, 'exit');
  assert.match(out, /^refused EFBIG/, `child said ${out}`);
  assert.deepEqual(await readdir(path.join(dir, 'msg')), [], 'nothing committed');
  assert.deepEqual(await readdir(path.join(dir, 'tmp')), [], 'the partial temp file is removed');
});

test('mail in transit is readable by the spool owner alone: files 0600, new directories 0700', async (t) => {
  const dir = path.join(await tempDir(t), 'spool');
  const spool = await open(dir);
  t.after(() => spool.close());
  const { id } = await spool.enqueue(envelope(), message('private'));
  await spool.saveState(id, initialState(envelope()));
  const modeOf = async (p: string): Promise<number> => (await stat(p)).mode & 0o777;
  assert.equal(await modeOf(dir), 0o700);
  let files = 0;
  for (const sub of await readdir(dir)) {
    const subDir = path.join(dir, sub);
    if (!(await stat(subDir)).isDirectory()) continue;
    assert.equal(await modeOf(subDir), 0o700, `${sub}/`);
    for (const name of await readdir(subDir)) {
      const file = path.join(subDir, name);
      if (!(await stat(file)).isFile()) continue;
      assert.equal(await modeOf(file), 0o600, `${sub}/${name}`);
      files++;
    }
  }
  assert.ok(files >= 2, `message and state files checked (${files})`);
});

test('a message\'s delivery progress survives a reopen, goes with the message, and an orphan record is cleaned at start', async (t) => {
  const dir = path.join(await tempDir(t), 'spool');
  const spool = await open(dir);
  const { id } = await spool.enqueue(envelope(), message('one'));
  const { id: other } = await spool.enqueue(envelope(), message('two'));
  await Promise.all([spool.progress.of(id).add('copy\0alice'), spool.progress.of(id).add('copy\0bob'), spool.progress.of(other).add('copy\0carol')]);
  await spool.close();
  const again = await open(dir);
  await again.load();
  assert.equal(await again.progress.of(id).has('copy\0alice'), true);
  assert.equal(await again.progress.of(id).has('copy\0bob'), true, 'parallel steps of one message are all kept');
  assert.equal(await again.progress.of(id).has('copy\0carol'), false);
  await again.remove(id);
  assert.deepEqual(await readdir(spoolPaths(dir).progress), [`${other}.json`], 'removed with its message');
  assert.equal(await again.progress.of(id).has('copy\0alice'), false);
  // the message gone while its record stayed (a crash between the two unlinks): dropped at the next start
  await unlink(path.join(spoolPaths(dir).msg, `${other}.msg`));
  await again.close();
  const third = await open(dir);
  t.after(() => third.close());
  await third.load();
  assert.deepEqual(await readdir(spoolPaths(dir).progress), []);
});

test('a damaged message set aside in corrupt/ takes its progress record with it at once, not at the next start', async (t) => {
  const dir = path.join(await tempDir(t), 'spool');
  const first = await open(dir);
  const { id: good } = await first.enqueue(envelope(), message('good'));
  await first.progress.of(good).add('copy\0alice');
  await first.close();
  const damaged = '000000001-00001-aaaaaa';
  await writeFile(path.join(dir, 'msg', `${damaged}.msg`), 'not a spool file at all');
  await writeFile(path.join(spoolPaths(dir).progress, `${damaged}.json`), JSON.stringify({ v: 1, steps: ['copy\0alice'] }));
  const spool = await open(dir);
  t.after(() => spool.close());
  assert.deepEqual((await spool.load()).map((e) => e.id), [good]);
  assert.deepEqual(await readdir(path.join(dir, 'corrupt')), [`${damaged}.msg`]);
  assert.deepEqual(await readdir(spoolPaths(dir).progress), [`${good}.json`], 'the damaged message\'s record is gone, the sound one\'s kept');
  assert.equal(await spool.progress.of(damaged).has('copy\0alice'), false);
});

test('remove() unlinks a progress record only for a message that has one (written this run or found at start), none for the others', async (t) => {
  const dir = path.join(await tempDir(t), 'spool');
  const first = await open(dir);
  const { id: before } = await first.enqueue(envelope(), message('recorded before the restart'));
  const { id: plain } = await first.enqueue(envelope(), message('never recorded'));
  await first.progress.of(before).add('copy\0alice');
  await first.close();
  // the restart; remove() may come before load()
  const spool = await open(dir);
  t.after(() => spool.close());
  const { id: now } = await spool.enqueue(envelope(), message('recorded this run'));
  await spool.progress.of(now).add('copy\0bob');
  await spool.remove(before);
  await spool.remove(now);
  assert.deepEqual(await readdir(spoolPaths(dir).progress), [], 'both records are gone with their messages');
  // no unlink for a message that never had a record: a directory made in its place since the start is not even
  // looked at (an unlink of it would fail: EISDIR)
  await mkdir(path.join(spoolPaths(dir).progress, `${plain}.json`));
  await spool.remove(plain);
  assert.equal(await spool.has(plain), false);
  assert.deepEqual(await readdir(spoolPaths(dir).progress), [`${plain}.json`]);
});

test('a huge progress record is refused unread (ignored with a warning); a record that would outgrow the bound is not written', async (t) => {
  const dir = path.join(await tempDir(t), 'spool');
  const first = await open(dir);
  const { id } = await first.enqueue(envelope(), message('one'));
  await first.close();
  // valid JSON naming a real step, padded far past any record we write
  await writeFile(path.join(spoolPaths(dir).progress, `${id}.json`), `{"v":1,"steps":["copy\\u0000alice"]${' '.repeat(MAX_PROGRESS_BYTES + 1)}}`);
  const { log, logs } = capturingLogger('warn');
  const spool = await openSpool({ dir, fsync: false, clock: new ManualClock(T0), registry: createRegistry(false), log });
  t.after(() => spool.close());
  await spool.load();
  assert.equal(await spool.progress.of(id).has('copy\0alice'), false);
  assert.ok(logs.some((l) => /delivery progress (damaged|unreadable)/.test(String(l.msg))), JSON.stringify(logs));
  // the writer keeps within the bound the reader holds to: steps past it stay in memory, the file keeps the others
  const written = new Map<string, Buffer>();
  const small = createSpoolProgress(
    {
      read: (i) => Promise.resolve(written.has(i) ? (JSON.parse(String(written.get(i))) as unknown) : undefined), write: (i, data) => {
        written.set(i, data);
        return Promise.resolve();
      },
    }, silentLogger, { maxBytes: 200 });
  for (let i = 0; i < 10; i++) await small.of('Q').add(`copy\0user${i}@example.test`);
  assert.ok((written.get('Q')?.length ?? 0) <= 200, `${written.get('Q')?.length} bytes`);
  const reread = createSpoolProgress({ read: () => Promise.resolve(JSON.parse(String(written.get('Q'))) as unknown), write: () => Promise.resolve() }, silentLogger, { maxBytes: 200 });
  assert.equal(await reread.of('Q').has('copy\0user0@example.test'), true);
});

test('a progress record dropped from memory while its write is under way is read again after that write: no step is lost', async () => {
  const written = new Map<string, string>();
  let release: () => void = () => undefined;
  const blocked = new Promise<void>((r) => (release = r));
  const progress = createSpoolProgress(
    {
      read: (i) => Promise.resolve(written.has(i) ? (JSON.parse(written.get(i) ?? '') as unknown) : undefined),
      write: async (i, data) => {
        if (i === 'Q') await blocked; // a slow disk
        written.set(i, data.toString('utf8'));
      },
    },
    silentLogger,
  );
  const first = progress.of('Q').add('copy\0alice');
  // many other messages' records looked at meanwhile: Q's is dropped from memory
  for (let i = 0; i < 6000; i++) await progress.of(`other${i}`).has('x');
  const second = progress.of('Q').add('copy\0bob');
  release();
  await Promise.all([first, second]);
  assert.deepEqual((JSON.parse(written.get('Q') ?? '{}') as { steps?: string[] }).steps?.sort(), ['copy\0alice', 'copy\0bob']);
});

test('a step too long for the file is kept in memory only: the next write still gives a record the reader takes', async () => {
  const written = new Map<string, string>();
  const files = {
    read: (i: string) => Promise.resolve(written.has(i) ? (JSON.parse(written.get(i) ?? '') as unknown) : undefined),
    write: (i: string, data: Buffer) => {
      written.set(i, data.toString('utf8'));
      return Promise.resolve();
    },
  };
  const progress = createSpoolProgress(files, silentLogger);
  await progress.of('Q').add('copy\0alice');
  await progress.of('Q').add(`copy\0bob\0${'f'.repeat(MAX_STEP_LENGTH)}`);
  assert.equal(await progress.of('Q').has(`copy\0bob\0${'f'.repeat(MAX_STEP_LENGTH)}`), true, 'in memory');
  await progress.of('Q').add('copy\0carol');
  const { logs, log } = capturingLogger('warn');
  const reread = createSpoolProgress(files, log);
  assert.equal(await reread.of('Q').has('copy\0alice'), true, JSON.stringify(logs));
  assert.equal(await reread.of('Q').has('copy\0carol'), true);
});

test('a progress record that could not be read for a moment (EMFILE) is read again: its steps still count and the next write keeps them', async () => {
  const written = new Map<string, string>([['Q', JSON.stringify({ v: 1, steps: ['copy\0alice', 'notice\0team@localhost'] })]]);
  let failures = 1;
  const progress = createSpoolProgress(
    {
      read: (i) => {
        if (failures-- > 0) return Promise.reject(Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' }));
        return Promise.resolve(written.has(i) ? (JSON.parse(written.get(i) ?? '') as unknown) : undefined);
      },
      write: (i, data) => {
        written.set(i, data.toString('utf8'));
        return Promise.resolve();
      },
    },
    silentLogger,
  );
  assert.equal(await progress.of('Q').has('copy\0bob'), false);
  assert.equal(await progress.of('Q').has('copy\0alice'), true, 'the record is read again once the files can be opened');
  await progress.of('Q').add('copy\0bob');
  assert.deepEqual((JSON.parse(written.get('Q') ?? '{}') as { steps?: string[] }).steps?.sort(), ['copy\0alice', 'copy\0bob', 'notice\0team@localhost']);
  // the write right after a failed read merges what the file has
  failures = 1;
  const fresh = createSpoolProgress({ read: (i) => (failures-- > 0 ? Promise.reject(Object.assign(new Error('EIO'), { code: 'EIO' })) : Promise.resolve(JSON.parse(written.get(i) ?? '') as unknown)), write: (i, d) => Promise.resolve(void written.set(i, d.toString('utf8'))) }, silentLogger);
  await fresh.of('Q').add('copy\0carol');
  assert.deepEqual((JSON.parse(written.get('Q') ?? '{}') as { steps?: string[] }).steps?.sort(), ['copy\0alice', 'copy\0bob', 'copy\0carol', 'notice\0team@localhost']);
});
