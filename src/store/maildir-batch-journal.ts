// The intent journal of a MULTIAPPEND commit (RFC 3502 §6.3.11: if any message cannot be appended, none is), so a
// process killed in the middle of renaming a batch into new/ and cur/ leaves all of it or none. Before the first
// rename, "spamgate-batch.<pid>.<n>.<random>" in the folder names every message of the batch by its Maildir key and is made
// durable (file and folder fsynced); it is removed once the batch is renamed, fsynced and numbered in the uid list:
// that unlink is the commit point, and the tagged OK follows it. A journal whose writer is gone therefore marks a
// batch whose client never had an OK, and recovery rolls it back: each message's file goes from tmp/, new/ and cur/,
// then the journal. Rolling forward would keep a batch the client will send again (it saw no OK), two copies of it.
// Recovery runs before a folder is first read and before every full scan (maildir-folder-sync.ts), so another
// process finds a dead writer's half batch gone at its next look; the keys of a live writer's batch are left out of
// that scan (maildir-scan.ts), so another process does not show a batch before its commit point either.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { readlinkSync } from 'node:fs';
import { constants } from 'node:fs';
import { open, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-file.ts';
import { lockHolderAlive, processIdentity } from '../util/process-identity.ts';
import { fsyncDir, OPEN_MESSAGE } from './maildir-files.ts';

const PREFIX = 'spamgate-batch.';
const HEADER = 'spamgate-batch 1';
/** A journal of another host (its writer cannot be asked) is a dead one's past this age: no commit lasts an hour. */
const FOREIGN_STALE_MS = 3600_000;
/** Most journals one recovery looks at (each names at most one command's messages). */
const MAX_JOURNALS = 1000;
/** Most keys one journal is read for (a MULTIAPPEND is bounded by the command's literal budget far below this). */
const MAX_KEYS = 100_000;

/** A journal bigger than this is none of ours (MAX_KEYS keys of a Maildir name each stay far below it). */
const MAX_JOURNAL_BYTES = 16 * 1024 * 1024;

/**
 * A journal's text, or undefined when it is gone, no regular file or too big: opened without following a link or
 * blocking (a FIFO planted under a journal's name would otherwise hold recovery, and every scan after it, for ever).
 */
async function readJournalText(file: string): Promise<string | undefined> {
  const handle = await open(file, OPEN_MESSAGE | constants.O_NONBLOCK).catch(() => undefined);
  if (!handle) return undefined;
  try {
    const st = await handle.stat();
    if (!st.isFile() || st.size > MAX_JOURNAL_BYTES) return undefined;
    return await handle.readFile('utf8');
  } catch {
    return undefined;
  } finally {
    await handle.close().catch(() => undefined);
  }
}

const host = hostname();
/**
 * Our pid namespace ("pid:[inode]", '' where /proc does not say): containers sharing a volume may share a host name
 * (host networking) while their pids mean different processes, and a writer there is judged as another host's.
 */
const PID_NS = ((): string => {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return '';
  }
})();
let counter = 0;
/** Journals this process is committing now: one of ours (same pid) not in here is a previous incarnation's. */
const active = new Set<string>();

/**
 * Test hook, inert unless SPAMGATE_TEST_MULTIAPPEND_KILL_AT is set (read once, at load): the process kills itself
 * with SIGKILL at the named point of a batch commit ("journal", "rename:<n>" after the n-th rename, "listed" once
 * numbered, "committed" after the journal is gone), so tests can crash a real child process inside the commit.
 */
const KILL_AT = process.env['SPAMGATE_TEST_MULTIAPPEND_KILL_AT'];
export function testKillPoint(point: string): void {
  if (KILL_AT !== undefined && KILL_AT === point) process.kill(process.pid, 'SIGKILL');
}

/** Writes and makes durable the journal of a batch about to be renamed in; returns its path (for endBatch). */
export async function beginBatch(folder: string, keys: readonly string[], fsync: boolean): Promise<string> {
  // a random part: another writer may have our pid (another host on the volume, another container's pid 1), and a
  // shared name would have our atomic write replace its journal and our commit remove it
  const file = join(folder, `${PREFIX}${process.pid}.${++counter}.${randomBytes(6).toString('hex')}`);
  const identity = processIdentity(process.pid) ?? '';
  const body = `${HEADER}\nowner ${process.pid} ${host} ${PID_NS ? `${identity || '-'} ${PID_NS}` : identity}\n${keys.map((k) => k + '\n').join('')}`;
  active.add(file);
  try {
    await writeFileAtomic(file, body, { fsync }); // tmp + rename + fsync of the folder: whole or absent
  } catch (err) {
    active.delete(file);
    throw err;
  }
  return file;
}

/** The batch is in (or taken back): the journal goes, and with it the means to roll the batch back. */
export async function endBatch(file: string, fsync: boolean, folder: string): Promise<void> {
  try {
    await unlink(file).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    if (fsync) await fsyncDir(folder);
  } finally {
    active.delete(file);
  }
}

/**
 * Takes a batch of this process back after a failed commit: its files (those the index expunge did not reach) and
 * its journal. When that fails too the journal is left for recovery, which then treats it as a dead writer's.
 */
export async function abortBatch(file: string, folder: string, keys: readonly string[], fsync: boolean): Promise<void> {
  try {
    await rollBack(folder, keys, fsync);
    await endBatch(file, fsync, folder);
  } catch {
    active.delete(file); // the next recovery (next open or full scan of the folder) finishes it
  }
}

interface Journal {
  pid: number;
  host: string;
  identity: string;
  /** The writer's pid namespace; '' in journals that do not say. */
  ns: string;
  keys: string[];
}

function parseJournal(text: string): Journal | undefined {
  const lines = text.split('\n');
  if (lines[0] !== HEADER) return undefined;
  const m = /^owner (\d+) (\S+)(?: (\S*))?(?: (\S+))?$/.exec(lines[1] ?? '');
  if (!m?.[1] || !m[2]) return undefined;
  // only keys its writer made (maildir-files.ts uniqueKey: "<sec>.M<usec>P<pid>Q<n>.<host>,…"): a corrupt or planted
  // journal naming other messages (delivered ones, another batch's) must not have recovery delete them
  const made = new RegExp(`^\\d+\\.M\\d+P${m[1]}Q\\d+\\.[^/\\x00]+$`);
  const keys = lines.slice(2, 2 + MAX_KEYS).filter((k) => made.test(k));
  return { pid: Number(m[1]), host: m[2], identity: m[3] === '-' ? '' : (m[3] ?? ''), ns: m[4] ?? '', keys };
}

/** Whether the journal's writer may still be committing it. */
function writerAlive(file: string, j: Journal, mtimeMs: number, now: number): boolean {
  // another host's writer, or one in another pid namespace (whose pid is not ours to ask): judged by age alone
  if (j.host !== host || (j.ns !== '' && PID_NS !== '' && j.ns !== PID_NS)) return now - mtimeMs < FOREIGN_STALE_MS;
  if (j.pid === process.pid) return active.has(file);
  return lockHolderAlive(j.pid, j.identity || undefined);
}

export interface Recovery {
  /** Batches rolled back (0: nothing changed on disk). */
  rolled: number;
  /** Keys of the batches live writers are committing now: not to be shown (or numbered) by a scan yet. */
  live: Set<string>;
}

/**
 * Rolls back the batches of writers that are gone: their messages' files leave tmp/, new/ and cur/, then their
 * journals; also removes the temp files of journal writes such a writer left. A journal whose roll-back fails stays
 * for the next look and its keys are reported as live (left out of scans); the others are still dealt with.
 */
export async function recoverBatches(folder: string, fsync: boolean, now = Date.now()): Promise<Recovery> {
  const out: Recovery = { rolled: 0, live: new Set() };
  let failed: unknown;
  let all: string[];
  try {
    all = await readdir(folder);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw err;
  }
  await removeDeadJournalTemps(folder, all);
  const names = all.filter((n) => n.startsWith(PREFIX)).slice(0, MAX_JOURNALS);
  for (const name of names) {
    const file = join(folder, name);
    const text = await readJournalText(file);
    if (text === undefined) continue; // gone meanwhile (its writer finished, or another process recovered it), or no journal
    const j = parseJournal(text);
    if (!j) continue; // not one of ours (another format): left alone
    const { mtimeMs } = await stat(file).catch(() => ({ mtimeMs: now }));
    if (writerAlive(file, j, mtimeMs, now)) {
      for (const k of j.keys) out.live.add(k);
      continue;
    }
    try {
      await rollBack(folder, j.keys, fsync);
      await endBatch(file, fsync, folder);
      out.rolled++;
    } catch (err) {
      // this journal stays for the next look, its batch left out meanwhile; the other journals are still seen to
      // not counted as rolled back: a wedged journal would otherwise make every look a full scan (what it did remove
      // changes new/ or cur/, and the stamps show that)
      for (const k of j.keys) out.live.add(k);
      failed ??= err;
    }
  }
  if (failed !== undefined && out.live.size === 0) throw failed;
  return out;
}

/** ".spamgate-batch.<pid>.<n>.<hex>.<pid>.<c>.tmp": a journal write (util/atomic-file.ts) its process did not finish. */
async function removeDeadJournalTemps(folder: string, names: readonly string[]): Promise<void> {
  for (const name of names) {
    const m = /^\.spamgate-batch\.(\d+)\.\d+(?:\.[0-9a-f]+)?\.\d+\.\d+\.tmp$/.exec(name);
    if (!m?.[1]) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || lockHolderAlive(pid, undefined)) continue; // ours or a live writer's, being written
    await unlink(join(folder, name)).catch(() => undefined);
  }
}

/** Removes every file of the keys: tmp/<key>, new/<key>, cur/<key>:<info> (flags may have changed its info since). */
async function rollBack(folder: string, keys: readonly string[], fsync: boolean): Promise<void> {
  if (keys.length === 0) return;
  const want = new Set(keys);
  const gone = (err: NodeJS.ErrnoException): void => {
    if (err.code !== 'ENOENT') throw err;
  };
  for (const sub of ['new', 'cur'] as const) {
    const dir = join(folder, sub);
    const listed = await readdir(dir).catch((err: NodeJS.ErrnoException): string[] => {
      if (err.code === 'ENOENT') return [];
      throw err;
    });
    for (const n of listed) {
      const colon = n.indexOf(':');
      if (want.has(colon < 0 ? n : n.slice(0, colon))) await unlink(join(dir, n)).catch(gone);
    }
    if (fsync) await fsyncDir(dir);
  }
  // the staged copies last: a crash in here leaves the journal, and the next recovery finishes the job
  for (const k of keys) await unlink(join(folder, 'tmp', k)).catch(gone);
}
