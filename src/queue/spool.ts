// The durable spool: enqueue() resolves only once the message is fsynced and renamed into place
// (RFC 5321 §6.1), with directory fsyncs of concurrent enqueues batched into one (group commit).
import { mkdir, open, readdir, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Registry } from 'prom-client';
import { counter, gauge, histogram } from '../metrics/registry.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import {
  createIdGenerator,
  encodeHeader,
  listIds,
  msgFile,
  progressFile,
  readEnvelopeFile,
  readMessageFile,
  readRawStateFile,
  spoolPaths,
  stateFile,
  SUBDIRS,
  type DeliveryState,
  type SpoolPaths,
} from './spool-format.ts';
import { runningPid, takeSpoolLock } from './spool-lock.ts';
import { createSpoolProgress, MAX_PROGRESS_BYTES, type SpoolProgress } from './spool-progress.ts';
import { checkState } from './spool-validate.ts';
import type { MessageSink, QueueEnvelope } from './types.ts';

export interface SpoolEntry {
  id: string;
  envelope: QueueEnvelope;
  size: number;
  state?: DeliveryState;
}

export interface Spool extends MessageSink {
  readonly paths: SpoolPaths;
  /** Every committed message with its state (used once at start by the scheduler). */
  load(): Promise<SpoolEntry[]>;
  read(id: string): Promise<{ envelope: QueueEnvelope; message: Buffer }>;
  /** Whether a committed message file with this id is in the spool. */
  has(id: string): Promise<boolean>;
  saveState(id: string, state: DeliveryState): Promise<void>;
  /** What local delivery has done for each message (kept across restarts, removed with the message). */
  readonly progress: SpoolProgress;
  remove(id: string): Promise<void>;
  /** Called after each durable enqueue (the scheduler wakes on it). */
  onEnqueue(listener: (entry: SpoolEntry) => void): void;
  close(): Promise<void>;
}

export interface SpoolOptions {
  /** The spool directory (conventionally <data_dir>/spool). */
  dir: string;
  fsync: boolean;
  clock: Clock;
  registry: Registry;
  log: Logger;
  /** Take the lock file and clean leftovers (default true; false for read-only tools). */
  exclusive?: boolean;
}

export const spoolDir = (dataDir: string): string => path.join(dataDir, 'spool');

/** Batches fsyncs of one directory: callers arriving while one runs share the next one. */
function createDirSync(handle: FileHandle): () => Promise<void> {
  let running: Promise<void> | undefined;
  let queued: Promise<void> | undefined;
  const start = (): Promise<void> => {
    const p = handle.sync().finally(() => {
      if (running === p) running = undefined;
    });
    running = p;
    return p;
  };
  return () => {
    if (!running) return start();
    if (!queued) {
      const prev = running;
      queued = prev
        .catch(() => undefined)
        .then(() => {
          queued = undefined;
          return start();
        });
    }
    return queued;
  };
}

/** A small JSON file, undefined when there is none; one larger than `max` bytes is refused unread (damaged). */
async function readBoundedJson(file: string, max: number): Promise<unknown> {
  const fh = await open(file, 'r').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!fh) return undefined;
  try {
    const { size } = await fh.stat();
    if (size > max) throw new Error(`${size} bytes, more than ${max}`);
    return JSON.parse((await fh.readFile()).toString('utf8')) as unknown;
  } finally {
    await fh.close();
  }
}

export async function openSpool(opts: SpoolOptions): Promise<Spool> {
  const paths = spoolPaths(opts.dir);
  // Mail in transit is readable by spamgate's user alone (directories made here 0700, files 0600).
  for (const sub of SUBDIRS) await mkdir(path.join(opts.dir, sub), { recursive: true, mode: 0o700 });
  const exclusive = opts.exclusive ?? true;
  if (exclusive) {
    await takeSpoolLock(paths, opts.dir);
    // Leftovers of writes a crash interrupted: never acknowledged, so safe to drop.
    for (const name of await readdir(paths.tmp)) await rm(path.join(paths.tmp, name), { force: true });
  }
  // The messages that have a progress record: those found now and those written since. remove() unlinks a record
  // only for these, sparing every other message an unlink that would find nothing (at most one id a queued message).
  const recorded = new Set((await readdir(paths.progress)).filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -5)));
  const msgDir = await open(paths.msg, 'r');
  const stateDir = await open(paths.state, 'r');
  const progressDir = await open(paths.progress, 'r');
  const syncMsgDir = createDirSync(msgDir);
  const syncStateDir = createDirSync(stateDir);
  const syncProgressDir = createDirSync(progressDir);
  const nextId = createIdGenerator(() => opts.clock.now());
  const listeners: ((e: SpoolEntry) => void)[] = [];
  const enqueued = counter(opts.registry, 'spamgate_queue_enqueued_total', 'Messages durably written to the spool.');
  const corruptFiles = gauge(opts.registry, 'spamgate_queue_corrupt_files', 'Damaged message files moved to spool/corrupt (never delivered until a person acts).');
  const enqueueSeconds = histogram(opts.registry, 'spamgate_queue_enqueue_duration_seconds', 'Time to write, fsync and rename one message into the spool.', [], [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]);

  /**
   * Until the rename, any failure (a full disk at write, fsync, close or rename) removes the temp file and
   * throws the first error: nothing half-written stays behind, and the caller acknowledges nothing.
   */
  const writeDurable = async (tmp: string, final: string, chunks: Buffer[], dirSync: () => Promise<void>): Promise<void> => {
    const fh = await open(tmp, 'wx', 0o600);
    let failure: { err: unknown } | undefined;
    try {
      await writeAll(fh, chunks);
      if (opts.fsync) await fh.sync();
    } catch (err) {
      failure = { err };
    }
    // close(2) can report a deferred write error (ENOSPC, EDQUOT on network file systems)
    await fh.close().catch((err: unknown) => void (failure ??= { err }));
    if (!failure) await rename(tmp, final).catch((err: unknown) => void (failure = { err }));
    if (failure) {
      await unlink(tmp).catch(() => undefined);
      throw failure.err;
    }
    if (opts.fsync) await dirSync();
  };

  /** A state that cannot be read or does not fit its message is dropped: the message starts over (at worst a duplicate). */
  const readState = async (id: string, envelope: QueueEnvelope): Promise<DeliveryState | undefined> => {
    try {
      const json = await readRawStateFile(stateFile(paths, id));
      if (json === undefined) return undefined;
      const checked = checkState(json, envelope);
      if ('state' in checked) return checked.state;
      opts.log.warn('queue state does not fit its message, starting over', { id, problem: checked.problem });
    } catch (err) {
      opts.log.warn('queue state unreadable, starting over', { id, err });
    }
    return undefined;
  };

  const quarantine = async (id: string, err: unknown): Promise<void> => {
    const target = path.join(paths.corrupt, `${id}.msg`);
    try {
      await rename(msgFile(paths, id), target);
      await rename(stateFile(paths, id), path.join(paths.corrupt, `${id}.json`)).catch(ignoreMissing);
      if (opts.fsync) await syncMsgDir();
      opts.log.error('queue file damaged, moved aside', { id, file: target, err });
    } catch (moveErr) {
      opts.log.error('queue file damaged and could not be moved aside, left in place', { id, err, moveErr });
      return;
    }
    // what delivery had done goes with the message's place in the queue: a message put back is delivered anew
    await removeProgress(id).catch((unlinkErr: unknown) => opts.log.warn('delivery progress of a damaged queue file not removed (dropped at the next start)', { id, err: unlinkErr }));
  };

  /** Forgets a message's steps and removes its record file, if it has one (kept in `recorded` when that fails). */
  const removeProgress = async (id: string): Promise<void> => {
    progress.forget(id);
    if (!recorded.has(id)) return;
    await unlink(progressFile(paths, id)).catch(ignoreMissing);
    recorded.delete(id);
  };

  const progress = createSpoolProgress(
    {
      read: (id) => readBoundedJson(progressFile(paths, id), MAX_PROGRESS_BYTES),
      write: (id, data) => {
        // noted before the file can be there, so a remove() never misses it
        recorded.add(id);
        return writeDurable(path.join(paths.tmp, `${id}.${nextId()}.progress`), progressFile(paths, id), [data], syncProgressDir);
      },
    },
    opts.log,
  );

  const spool: Spool = {
    paths,
    progress: { ...progress, hasRecord: (id) => recorded.has(id) },
    async enqueue(envelope, message) {
      const started = performance.now();
      const id = nextId();
      await writeDurable(path.join(paths.tmp, `${id}.msg`), msgFile(paths, id), [encodeHeader(envelope), message], syncMsgDir);
      enqueued.inc();
      enqueueSeconds.observe((performance.now() - started) / 1000);
      const entry: SpoolEntry = { id, envelope, size: message.length };
      for (const l of listeners) l(entry);
      return { id };
    },
    async load() {
      const entries: SpoolEntry[] = [];
      const ids = await listIds(paths);
      for (const id of ids) {
        let loaded: { envelope: QueueEnvelope; size: number };
        try {
          loaded = await readEnvelopeFile(msgFile(paths, id));
        } catch (err) {
          // A damaged file is never delivered and never deleted: a person decides (the log and the
          // gauge say where it is). A file the system cannot read now (EACCES, EIO) stays for the next start.
          if (exclusive && (err as NodeJS.ErrnoException).code === undefined) await quarantine(id, err);
          else opts.log.error('queue file unreadable, left in place', { id, err });
          continue;
        }
        const state = await readState(id, loaded.envelope);
        entries.push({ id, ...loaded, ...(state ? { state } : {}) });
      }
      if (exclusive) {
        const known = new Set(ids);
        for (const dir of [paths.state, paths.progress]) {
          for (const name of await readdir(dir)) {
            if (!name.endsWith('.json') || known.has(name.slice(0, -5))) continue;
            await rm(path.join(dir, name), { force: true });
            if (dir === paths.progress) recorded.delete(name.slice(0, -5));
          }
        }
      }
      corruptFiles.set((await readdir(paths.corrupt)).filter((n) => n.endsWith('.msg')).length);
      return entries;
    },
    read: (id) => readMessageFile(msgFile(paths, id)),
    has: (id) => stat(msgFile(paths, id)).then(() => true, () => false),
    async saveState(id, state) {
      const tmp = path.join(paths.tmp, `${id}.${nextId()}.state`);
      await writeDurable(tmp, stateFile(paths, id), [Buffer.from(JSON.stringify(state))], syncStateDir);
    },
    async remove(id) {
      // Message first: a crash in between leaves only a state or progress file, which load() discards.
      await unlink(msgFile(paths, id)).catch(ignoreMissing);
      await unlink(stateFile(paths, id)).catch(ignoreMissing);
      await removeProgress(id);
    },
    onEnqueue: (l) => void listeners.push(l),
    async close() {
      await msgDir.close();
      await stateDir.close();
      await progressDir.close();
      if (exclusive && (await runningPid(paths)) === process.pid) await unlink(paths.lock).catch(ignoreMissing);
    },
  };
  return spool;
}

/**
 * writev may write less than asked without an error (disk full, file size limit): the rest is
 * written until done, so a short write ends in the error that explains it, never in a truncated
 * file that is then acknowledged.
 */
export async function writeAll(fh: { writev(buffers: Buffer[]): Promise<{ bytesWritten: number }> }, chunks: Buffer[]): Promise<void> {
  let rest = chunks.filter((c) => c.length > 0);
  for (let round = 0; rest.length > 0; round++) {
    const { bytesWritten } = await fh.writev(rest);
    if (bytesWritten <= 0 && round > 0) throw new Error('spool write made no progress');
    let skip = bytesWritten;
    const left: Buffer[] = [];
    for (const c of rest) {
      if (skip >= c.length) skip -= c.length;
      else {
        left.push(skip > 0 ? c.subarray(skip) : c);
        skip = 0;
      }
    }
    rest = left;
  }
}

function ignoreMissing(err: NodeJS.ErrnoException): void {
  if (err.code !== 'ENOENT') throw err;
}
