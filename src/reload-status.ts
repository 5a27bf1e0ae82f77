// The outcome of the running instance's latest reload (SIGHUP, `spamgate reload`, the rules watcher), kept in the
// data directory as reload-status.json, rewritten atomically after every attempt: `spamgate reload` reads it to
// print what its signal did. One small file, replaced, never appended to.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { removeDeadTempsSync, writeFileAtomicSync } from './util/atomic-file.ts';

export const RELOAD_STATUS_FILE = 'reload-status.json';

/** What set the reload off: a signal (SIGHUP, `spamgate reload`) or a change to the rules files. */
export type ReloadTrigger = 'signal' | 'rules';

export interface ReloadStatus {
  /** Unique to one start of the instance: a sequence number is only compared within it. */
  instance: string;
  pid: number;
  /** 1 for the instance's first reload, one more for each after. */
  seq: number;
  /** When the attempt ended, RFC 3339 UTC. */
  at: string;
  trigger: ReloadTrigger;
  ok: boolean;
  /** Why the configuration was refused (file, key and problem), when not ok. */
  error?: string;
  /** Changed settings the running instance keeps until a restart (ok only). */
  restart: string[];
}

/** The status file is a few hundred bytes; a larger one is not ours. */
const MAX_STATUS_BYTES = 256 * 1024;

export function reloadStatusFile(dataDir: string): string {
  return path.join(dataDir, RELOAD_STATUS_FILE);
}

/**
 * The longest error recorded, in UTF-16 units: JSON writes one in at most 6 bytes (a \uXXXX escape), so the file stays well
 * under MAX_STATUS_BYTES, which the reader refuses. A config with thousands of problems gives an error of megabytes.
 */
const MAX_ERROR_CHARS = 16 * 1024;

/** `error` cut to MAX_ERROR_CHARS (at a line end when one is near), saying how much more the instance's log holds. */
function boundedError(error: string): string {
  if (error.length <= MAX_ERROR_CHARS) return error;
  let cut = error.lastIndexOf('\n', MAX_ERROR_CHARS);
  if (cut < MAX_ERROR_CHARS / 2) cut = MAX_ERROR_CHARS;
  // never half of a surrogate pair
  const code = error.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut--;
  return `${error.slice(0, cut)}\n... (${error.length - cut} more characters; the instance's log holds the whole error)`;
}

/** Replaces the status file (temp file, fsync, rename): a reader sees the previous outcome or this one, whole. */
export function writeReloadStatus(dataDir: string, status: ReloadStatus): void {
  const recorded = status.error === undefined ? status : { ...status, error: boundedError(status.error) };
  // a write cut short (the instance killed between its temp file and the rename) leaves the temp file: cleared here
  removeDeadTempsSync(reloadStatusFile(dataDir));
  writeFileAtomicSync(reloadStatusFile(dataDir), `${JSON.stringify(recorded)}\n`, { mode: 0o600 });
}

/** The recorded outcome, or undefined when there is none (no reload since the data directory was made) or it is not one. */
export function readReloadStatus(dataDir: string): ReloadStatus | undefined {
  let text: string;
  try {
    const buf = readFileSync(reloadStatusFile(dataDir));
    if (buf.length > MAX_STATUS_BYTES) return undefined;
    text = buf.toString('utf8');
  } catch {
    return undefined;
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  const { instance, pid, seq, at, trigger, ok, error, restart } = o;
  if (typeof instance !== 'string' || typeof pid !== 'number' || typeof seq !== 'number' || !Number.isSafeInteger(seq) || typeof at !== 'string' || typeof ok !== 'boolean') return undefined;
  if (trigger !== 'signal' && trigger !== 'rules') return undefined;
  if (!Array.isArray(restart) || !restart.every((k): k is string => typeof k === 'string')) return undefined;
  if (error !== undefined && typeof error !== 'string') return undefined;
  return { instance, pid, seq, at, trigger, ok, ...(error !== undefined ? { error } : {}), restart };
}

/** True when `status` is an outcome recorded after `before` (another start of the instance, or a later reload of the same). */
export function isNewerStatus(status: ReloadStatus, before: ReloadStatus | undefined): boolean {
  return before === undefined || status.instance !== before.instance || status.seq > before.seq;
}
