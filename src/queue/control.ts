// Requests from `spamgate queue` and `spamgate quarantine` to a running instance: files in <spool>/control that
// the scheduler picks up on its next scan (flush, flush-ID, remove-ID, hold-ID, release-ID; qrelease-ID,
// qrelease_learn-ID, qdelete-ID for the quarantine; qdigest, qdigest_now for its digests: a round started, not waited
// for) and deletes once done.
import { readdir, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../util/logger.ts';
import { ID_PATTERN, type SpoolPaths } from './spool-format.ts';

/** Operations on one message by id. */
export type MessageOp = 'remove' | 'hold' | 'release';
/** Operations on one quarantined message: release (and learn it as ham), or delete. */
export type QuarantineOp = 'qrelease' | 'qrelease_learn' | 'qdelete';
/** A digest round: when due, or at once. */
export type DigestOp = 'qdigest' | 'qdigest_now';
export type ControlRequest = { op: 'flush'; id?: string } | { op: MessageOp | QuarantineOp; id: string } | { op: DigestOp; id?: undefined };

/** What the running instance does with the quarantine's requests. */
export interface QuarantineControl {
  release(id: string, learn: boolean): Promise<boolean>;
  remove(id: string): Promise<boolean>;
  /** A digest round (absent: digests are off). */
  digest?(force: boolean): Promise<unknown>;
}

/** The request as the command that made it says it ("release --learn ID", "digest --now"), for its output. */
export function requestLabel(req: ControlRequest): string {
  const words: Record<QuarantineOp | DigestOp, string> = { qrelease: 'release', qrelease_learn: 'release --learn', qdelete: 'delete', qdigest: 'digest', qdigest_now: 'digest --now' };
  const op = req.op in words ? words[req.op as QuarantineOp | DigestOp] : req.op;
  return req.id ? `${op} ${req.id}` : op;
}

export function requestName(req: ControlRequest): string {
  return req.id ? `${req.op}-${req.id}` : req.op;
}

export function parseRequestName(name: string): ControlRequest | undefined {
  if (name === 'flush') return { op: 'flush' };
  if (name === 'qdigest' || name === 'qdigest_now') return { op: name };
  const m = /^(flush|remove|hold|release|qrelease|qrelease_learn|qdelete)-(.+)$/.exec(name);
  const [, op, id] = m ?? [];
  if (!op || !id || !ID_PATTERN.test(id)) return undefined;
  return op === 'flush' ? { op, id } : { op: op as MessageOp | QuarantineOp, id };
}

/** Writes a request atomically (tmp + rename) and returns its path; the instance deletes it when done. */
export async function writeControlRequest(paths: SpoolPaths, req: ControlRequest): Promise<string> {
  const name = requestName(req);
  const tmp = path.join(paths.tmp, `control-${process.pid}-${name}`);
  await writeFile(tmp, `${new Date().toISOString()}\n`, { mode: 0o600 });
  const final = path.join(paths.control, name);
  // hold and release of one message undo each other, and the instance applies what waits in directory order:
  // a pending opposite request is withdrawn, so the later command is the one that stands
  if (req.op === 'hold' || req.op === 'release') {
    const opposite = requestName({ op: req.op === 'hold' ? 'release' : 'hold', id: req.id });
    await unlink(path.join(paths.control, opposite)).catch(() => undefined);
  }
  await rename(tmp, final);
  return final;
}

export interface ControlHandlers {
  flush(id?: string): void;
  remove(id: string): Promise<boolean>;
  hold(id: string): Promise<boolean>;
  release(id: string): Promise<boolean>;
  /** Absent where no quarantine runs (its requests are then dropped with a warning). */
  quarantine?: QuarantineControl;
}

async function apply(req: ControlRequest, handlers: ControlHandlers, log: Logger): Promise<void> {
  if (req.op === 'flush') return handlers.flush(req.id);
  if (req.op === 'remove' || req.op === 'hold' || req.op === 'release') return void (await handlers[req.op](req.id));
  if (!handlers.quarantine) return log.warn('quarantine control request ignored: no quarantine here', { request: requestName(req) });
  if (req.op === 'qdigest' || req.op === 'qdigest_now') {
    if (!handlers.quarantine.digest) return log.warn('quarantine digest request ignored: quarantine.digest.enabled is false', { request: requestName(req) });
    // started, not awaited: a round of thousands of digests would hold up the queue's scans (retries, the other
    // requests) until it ended; the runner does one round at a time and logs what it sent
    handlers.quarantine.digest(req.op === 'qdigest_now').catch((err: unknown) => log.error('quarantine digest round failed', { err }));
    return;
  }
  if (req.id === undefined) return;
  if (req.op === 'qdelete') await handlers.quarantine.remove(req.id);
  else await handlers.quarantine.release(req.id, req.op === 'qrelease_learn');
}

export async function processControlRequests(paths: SpoolPaths, handlers: ControlHandlers, log: Logger): Promise<number> {
  const names = await readdir(paths.control).catch(() => [] as string[]);
  for (const name of names) {
    const req = parseRequestName(name);
    if (!req) log.warn('unknown queue control request ignored', { name });
    else await apply(req, handlers, log);
    if (req) log.info('queue control request', { request: name });
    await unlink(path.join(paths.control, name)).catch(() => undefined);
  }
  return names.length;
}
