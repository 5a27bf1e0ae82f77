// The running instance's quarantine: stores a message durably (fsync + rename) before the gateway answers 250,
// releases and deletes on request, and sweeps out what passed quarantine.max_age or makes it pass max_size.
import { mkdir, readdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Learner } from '../bayes/learner.ts';
import type { Registry } from '../metrics/registry.ts';
import { createIdGenerator, encodeHeader, idTime } from '../queue/spool-format.ts';
import type { MessageSink } from '../queue/types.ts';
import { removeDeadTempsSync, writeFileAtomic } from '../util/atomic-file.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { isQuarantineId, listQuarantineIds, quarantineFile, type QuarantineEnvelope } from './format.ts';
import { createQuarantineMetrics } from './metrics.ts';
import { deleteQuarantinedFor, NotHeldError, releaseQuarantined } from './release.ts';

/** What the gateway needs: store before the 250, withdraw when the rest of the transaction failed after all. */
export interface QuarantineSink {
  /** Resolves with the quarantine id once the message is durable (fsync of file and directory, rename). */
  store(envelope: QuarantineEnvelope, message: Buffer): Promise<string>;
  /** Removes a message stored for a transaction that was not acknowledged in the end (not counted as deleted). */
  withdraw(id: string): Promise<void>;
}

export interface Quarantine extends QuarantineSink {
  readonly dir: string;
  release(id: string, sink: MessageSink, learn: boolean): Promise<boolean>;
  remove(id: string): Promise<boolean>;
  /** Releases the copy of one recipient (a digest link); the others stay held. */
  releaseFor(id: string, recipient: string, sink: MessageSink, learn: boolean): Promise<RecipientOutcome>;
  /** Deletes the copy of one recipient; the others stay held. */
  removeFor(id: string, recipient: string): Promise<RecipientOutcome>;
  /**
   * A time before which every stored id is on disk: the time of the oldest store still being written, else now.
   * A digest round lists ids older than this, so none it skips is older than what it covered.
   */
  settledBefore(): number;
  /** Deletes messages past max_age, then the oldest while the total passes max_size (never the last one left). */
  sweep(): Promise<void>;
  /** Sweeps now and then periodically. */
  start(): void;
  close(): void;
}

export interface QuarantineOptions {
  dir: string;
  maxAgeMs: number;
  /** Total bytes kept at most; 0: no bound. */
  maxSize: number;
  fsync: boolean;
  clock: Clock;
  registry: Registry;
  log: Logger;
  /** Learns a message released with --learn as ham (absent: Bayes is off). */
  learner?: Learner;
}

/** What became of one recipient's copy: done, not (or no longer) held for them, or a failure (logged). */
export type RecipientOutcome = 'done' | 'not_held' | 'failed';

/** How often the sweep runs: a quarter of max_age, from 1 s to 1 h. */
export const sweepInterval = (maxAgeMs: number): number => Math.min(3_600_000, Math.max(1000, Math.floor(maxAgeMs / 4)));

export async function openQuarantine(opts: QuarantineOptions): Promise<Quarantine> {
  const { dir, log } = opts;
  // Quarantined mail is readable by spamgate's user alone (0700 directory, 0600 files).
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // temp files of writes a crash interrupted (never acknowledged): .ID.msg.PID.N.tmp
  for (const name of await readdir(dir)) {
    const m = /^\.(.+\.msg)\.\d+\.\d+\.tmp$/.exec(name);
    if (m?.[1]) removeDeadTempsSync(path.join(dir, m[1]));
  }
  const metrics = createQuarantineMetrics(opts.registry);
  /** id → bytes on disk, oldest first (ids sort by time). */
  const index = new Map<string, number>();
  /** The sum of index's sizes, kept as it changes: a sweep deleting many of many messages stays linear. */
  let totalBytes = 0;
  const indexSet = (id: string, size: number): void => {
    totalBytes += size - (index.get(id) ?? 0);
    index.set(id, size);
  };
  const indexDelete = (id: string): void => {
    totalBytes -= index.get(id) ?? 0;
    index.delete(id);
  };
  for (const id of await listQuarantineIds(dir)) {
    const st = await stat(quarantineFile(dir, id)).catch(() => undefined);
    if (st) indexSet(id, st.size);
  }
  const nextId = createIdGenerator(() => opts.clock.now());
  const gauges = (): void => {
    metrics.messages.set(index.size);
    metrics.bytes.set(totalBytes);
  };
  gauges();
  const drop = async (id: string): Promise<boolean> => {
    const gone = await unlink(quarantineFile(dir, id)).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return false;
        throw err;
      },
    );
    indexDelete(id);
    gauges();
    return gone;
  };
  /** Ids being stored now (generated, not yet renamed into place). */
  const writing = new Set<string>();
  /** Per id, the operation under way: release and delete of one message never interleave (both rewrite its file). */
  const busy = new Map<string, Promise<unknown>>();
  const serial = <T>(id: string, op: () => Promise<T>): Promise<T> => {
    const next = (busy.get(id) ?? Promise.resolve()).then(op, op);
    const tail = next.catch(() => undefined);
    busy.set(id, tail);
    void tail.then(() => {
      if (busy.get(id) === tail) busy.delete(id);
    });
    return next;
  };
  /** After a recipient's copy went: the file's new size, or gone. */
  const afterPartial = async (id: string, remaining: readonly string[]): Promise<void> => {
    if (!remaining.length) indexDelete(id);
    else {
      const st = await stat(quarantineFile(dir, id)).catch(() => undefined);
      if (st) indexSet(id, st.size);
    }
    gauges();
  };
  let timer: NodeJS.Timeout | undefined;
  let sweeping: Promise<void> | undefined;

  const sweepOnce = async (): Promise<void> => {
    const now = opts.clock.now();
    for (const id of [...index.keys()]) {
      if (now - idTime(id) < opts.maxAgeMs) break; // oldest first: the rest are younger
      if (!(await serial(id, () => drop(id)))) continue; // released or deleted meanwhile
      metrics.total.inc({ result: 'expired' });
      log.info('quarantined message expired', { id, max_age_ms: opts.maxAgeMs });
    }
    if (opts.maxSize <= 0) return;
    for (const [id, size] of [...index]) {
      // the newest message stays even when it alone passes max_size: it was acknowledged with 250 a moment ago, and
      // deleting it (after every older one) would empty the quarantine for one large message no one got to see
      if (totalBytes <= opts.maxSize || index.size <= 1) break;
      if (!(await serial(id, () => drop(id)))) continue;
      metrics.total.inc({ result: 'expired' });
      log.warn('quarantine over max_size: oldest message deleted', { id, size, total: totalBytes, max_size: opts.maxSize });
    }
  };

  const q: Quarantine = {
    dir,
    async store(envelope, message) {
      const id = nextId();
      writing.add(id);
      const data = Buffer.concat([encodeHeader(envelope), message]);
      try {
        await writeFileAtomic(quarantineFile(dir, id), data, { mode: 0o600, fsync: opts.fsync });
        indexSet(id, data.length);
      } finally {
        writing.delete(id);
      }
      metrics.total.inc({ result: 'stored' });
      gauges();
      log.info('message quarantined', { id, session: envelope.sessionId, rcpts: envelope.rcptTo, score: envelope.quarantine.score });
      if (opts.maxSize > 0 && totalBytes > opts.maxSize) void q.sweep();
      return id;
    },
    async withdraw(id) {
      // counted, so that stored minus withdrawn is what was acknowledged with 250 into the quarantine
      if (await drop(id)) metrics.total.inc({ result: 'withdrawn' });
      log.info('quarantined message withdrawn: its transaction was not acknowledged', { id });
    },
    async release(id, sink, learn) {
      if (!isQuarantineId(id)) return false;
      let released;
      try {
        released = await serial(id, () => releaseQuarantined(dir, id, sink, opts.clock.now(), { fsync: opts.fsync }));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
        log.error('quarantine release failed', { id, err });
        return false;
      }
      indexDelete(id);
      metrics.total.inc({ result: 'released' });
      gauges();
      log.info('quarantined message released', { id, queue_id: released.queueId, rcpts: released.recipients, learn });
      if (learn) {
        if (!opts.learner) log.warn('quarantine release --learn: Bayes is off, nothing learned', { id });
        else log.info('released message learned as ham', { id, outcome: await opts.learner.learn(released.message, 'ham', 'manual') });
      }
      return true;
    },
    async releaseFor(id, recipient, sink, learn) {
      if (!isQuarantineId(id)) return 'not_held';
      let released;
      try {
        released = await serial(id, () => releaseQuarantined(dir, id, sink, opts.clock.now(), { only: [recipient], fsync: opts.fsync }));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT' || err instanceof NotHeldError) return 'not_held';
        log.error('quarantine release failed', { id, recipient, err });
        return 'failed';
      }
      await afterPartial(id, released.remaining);
      metrics.total.inc({ result: 'released' });
      log.info('quarantined message released for one recipient', { id, queue_id: released.queueId, rcpts: released.recipients, still_held: released.remaining.length, learn });
      if (learn && !opts.learner) log.warn('quarantine.digest.learn_on_release: Bayes is off, nothing learned', { id });
      else if (learn && opts.learner) log.info('released message learned as ham', { id, outcome: await opts.learner.learn(released.message, 'ham', 'manual') });
      return 'done';
    },
    async removeFor(id, recipient) {
      if (!isQuarantineId(id)) return 'not_held';
      let r;
      try {
        r = await serial(id, () => deleteQuarantinedFor(dir, id, [recipient], opts.fsync));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'not_held';
        log.error('quarantine delete failed', { id, recipient, err });
        return 'failed';
      }
      if (!r.removed.length) return 'not_held';
      await afterPartial(id, r.remaining);
      metrics.total.inc({ result: 'deleted' });
      log.info('quarantined message deleted for one recipient', { id, rcpts: r.removed, still_held: r.remaining.length });
      return 'done';
    },
    settledBefore() {
      let t = opts.clock.now();
      for (const id of writing) t = Math.min(t, idTime(id));
      return t;
    },
    async remove(id) {
      if (!isQuarantineId(id) || !(await serial(id, () => drop(id)))) return false;
      metrics.total.inc({ result: 'deleted' });
      log.info('quarantined message deleted', { id });
      return true;
    },
    sweep() {
      // one sweep at a time: a second caller shares the one under way
      sweeping ??= sweepOnce()
        .catch((err: unknown) => log.error('quarantine sweep failed', { err }))
        .finally(() => (sweeping = undefined));
      return sweeping;
    },
    start() {
      void q.sweep();
      timer = setInterval(() => void q.sweep(), sweepInterval(opts.maxAgeMs));
      timer.unref();
    },
    close() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
  return q;
}
