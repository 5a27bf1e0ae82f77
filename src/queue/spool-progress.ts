// What the local delivery of one queued message has already done — a copy stored in a mailbox, an alias-member
// failure notice or a Sieve redirect queued — kept in the spool beside its state (progress/ID.json, replaced
// atomically after each step), so that a retry after a restart does not do it again. Removed with the message, or
// when the message is set aside as damaged (spool/corrupt).
import { LRUCache } from 'lru-cache';
import type { Logger } from '../util/logger.ts';

/** Steps of one message: bounded by its recipients' mailboxes, folders and redirects; more are kept in memory only. */
export const MAX_PROGRESS_STEPS = 10_000;
/** A step names a user, a folder or an address: longer is no step we wrote. */
export const MAX_STEP_LENGTH = 2048;
/** A record file larger than this is refused unread (damaged); steps that would grow one past it stay in memory. */
export const MAX_PROGRESS_BYTES = 4 * 1024 * 1024;
/** Messages whose steps are held in memory (read again from the file when dropped). */
const CACHED_MESSAGES = 5_000;

/** The steps one queued message's delivery has done. */
export interface ProgressRecord {
  has(step: string): Promise<boolean>;
  /** Resolves once the step is on disk (fsynced per queue.fsync). */
  add(step: string): Promise<void>;
}

export interface SpoolProgress {
  of(id: string): ProgressRecord;
  /** Forgets a message's steps (its file is removed by the spool). */
  forget(id: string): void;
  /**
   * Whether the message has a record (found at start or written since), told without a look at the disk: a delivery
   * that would keep none (one step) reads it then, as the steps done may be of an attempt that planned more.
   */
  hasRecord?(id: string): boolean;
}

export interface ProgressFiles {
  /** The file's JSON, undefined when there is none. */
  read(id: string): Promise<unknown>;
  /** Replaces the file atomically. */
  write(id: string, data: Buffer): Promise<void>;
}

interface ProgressFile {
  v: 1;
  steps: string[];
}

/** A record that is not what we write (damaged, edited, too large) is ignored: the message is delivered as without one. */
export function parseProgress(json: unknown): string[] | { problem: string } {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return { problem: 'not an object' };
  const o = json as Partial<Record<keyof ProgressFile, unknown>>;
  if (o.v !== 1) return { problem: `unknown version ${JSON.stringify(o.v)}` };
  if (!Array.isArray(o.steps)) return { problem: 'steps is not a list' };
  const steps: unknown[] = o.steps;
  if (steps.length > MAX_PROGRESS_STEPS) return { problem: `${steps.length} steps, more than ${MAX_PROGRESS_STEPS}` };
  if (!steps.every((s): s is string => typeof s === 'string' && s.length > 0 && s.length <= MAX_STEP_LENGTH)) return { problem: 'a step is not a short string' };
  return steps as string[];
}

export function createSpoolProgress(files: ProgressFiles, log: Logger, limits: { maxBytes: number } = { maxBytes: MAX_PROGRESS_BYTES }): SpoolProgress {
  const cache = new LRUCache<string, Promise<Set<string>>>({ max: CACHED_MESSAGES });
  // writes of one message one after another, each with every step so far (local recipients are delivered in parallel)
  const writing = new Map<string, Promise<void>>();

  // Steps read from a file that could not be opened or read then (EMFILE, EIO: an error with a code) rather than
  // found damaged: the file is read again at the next look and before the next write, and what it holds is added,
  // so a passing error neither hides its steps for good nor has the next write replace the file without them.
  const unread = new WeakSet<Set<string>>();
  const parsed = (id: string, json: unknown): Set<string> => {
    if (json === undefined) return new Set<string>();
    const steps = parseProgress(json);
    if (Array.isArray(steps)) return new Set(steps);
    log.warn('queue delivery progress damaged, ignored (members that have the message may get it again)', { id, problem: steps.problem });
    return new Set<string>();
  };
  const failedRead = (id: string, err: unknown): Set<string> => {
    log.warn('queue delivery progress unreadable, ignored (members that have the message may get it again)', { id, err });
    const steps = new Set<string>();
    if ((err as NodeJS.ErrnoException | undefined)?.code !== undefined) unread.add(steps);
    return steps;
  };
  /** Reads a record that could not be read before into `steps`, once it can be (merged: steps added since stay). */
  const readAgain = async (id: string, steps: Set<string>): Promise<void> => {
    if (!unread.has(steps)) return;
    let json: unknown;
    try {
      json = await files.read(id);
    } catch {
      return;
    }
    if (!unread.has(steps)) return;
    unread.delete(steps);
    for (const s of parsed(id, json)) steps.add(s);
  };

  const load = (id: string): Promise<Set<string>> => {
    let steps = cache.get(id);
    if (!steps) {
      // dropped from memory while a write of it is under way: read once that write is done, or its steps are lost
      steps = (writing.get(id) ?? Promise.resolve()).then(() => files.read(id)).then(
        (json) => parsed(id, json),
        (err: unknown) => failedRead(id, err),
      );
      cache.set(id, steps);
    }
    return steps;
  };

  const add = async (id: string, step: string): Promise<void> => {
    const steps = await load(id);
    if (steps.has(step)) return;
    if (steps.size >= MAX_PROGRESS_STEPS || step.length > MAX_STEP_LENGTH) {
      log.warn('queue delivery progress full, step kept in memory only', { id });
      steps.add(step);
      return;
    }
    steps.add(step);
    const prev = writing.get(id) ?? Promise.resolve();
    // the steps as they are when the write before is done; never larger than the reader takes (the file then keeps
    // the steps it had, the rest are held in memory)
    const mine = prev.then(async () => {
      await readAgain(id, steps);
      // a step too long for the file is held in memory only: written, it would make the reader refuse the whole record
      const data = Buffer.from(JSON.stringify({ v: 1, steps: [...steps].filter((s) => s.length <= MAX_STEP_LENGTH).slice(0, MAX_PROGRESS_STEPS) } satisfies ProgressFile));
      if (data.length > limits.maxBytes) return void log.warn('queue delivery progress full, step kept in memory only', { id, bytes: data.length });
      return files.write(id, data);
    });
    const tail = mine.catch(() => undefined);
    writing.set(id, tail);
    void tail.then(() => {
      if (writing.get(id) === tail) writing.delete(id);
    });
    await mine;
  };

  return {
    of: (id) => ({
      has: async (step) => {
        const steps = await load(id);
        await readAgain(id, steps);
        return steps.has(step);
      },
      add: (step) => add(id, step),
    }),
    forget: (id) => void cache.delete(id),
  };
}
