// Requests from `spamgate queue` to a running instance: files in <spool>/control that the
// scheduler picks up on its next scan (flush, flush-ID, remove-ID, hold-ID, release-ID) and deletes once done.
import { readdir, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../util/logger.ts';
import { ID_PATTERN, type SpoolPaths } from './spool-format.ts';

/** Operations on one message by id. */
export type MessageOp = 'remove' | 'hold' | 'release';
export type ControlRequest = { op: 'flush'; id?: string } | { op: MessageOp; id: string };

export function requestName(req: ControlRequest): string {
  return req.id ? `${req.op}-${req.id}` : req.op;
}

export function parseRequestName(name: string): ControlRequest | undefined {
  if (name === 'flush') return { op: 'flush' };
  const m = /^(flush|remove|hold|release)-(.+)$/.exec(name);
  const [, op, id] = m ?? [];
  if (!op || !id || !ID_PATTERN.test(id)) return undefined;
  return op === 'flush' ? { op, id } : { op: op as MessageOp, id };
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
}

export async function processControlRequests(paths: SpoolPaths, handlers: ControlHandlers, log: Logger): Promise<number> {
  const names = await readdir(paths.control).catch(() => [] as string[]);
  for (const name of names) {
    const req = parseRequestName(name);
    if (!req) log.warn('unknown queue control request ignored', { name });
    else if (req.op === 'flush') handlers.flush(req.id);
    else await handlers[req.op](req.id);
    if (req) log.info('queue control request', { request: name });
    await unlink(path.join(paths.control, name)).catch(() => undefined);
  }
  return names.length;
}
