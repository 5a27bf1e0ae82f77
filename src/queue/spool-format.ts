// On-disk layout of the spool: message files (one JSON envelope line + the raw bytes), delivery
// state files, sortable unique ids, and the plain file reads the CLI shares with the server.
import { randomBytes } from 'node:crypto';
import { open, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseEnvelope, parseState } from './spool-validate.ts';
import type { NextHopReply, QueueEnvelope } from './types.ts';

/**
 * Layout under the spool directory:
 *   tmp/            files being written; anything here at start-up is a leftover and is removed
 *   msg/ID.msg      "SGQ1 <len>\n" + envelope JSON (len bytes) + "\n" + raw message bytes; envelope fields
 *                   added later are optional, so older files still load (the RFC 3461 ones — ret,
 *                   rcptDsn — are absent from files written before DSN support: nothing was asked)
 *   state/ID.json   delivery state, replaced atomically (absent until the first attempt)
 *   progress/ID.json  what local delivery has done for the message (mailbox copies stored, alias-member
 *                   notices and redirects queued), replaced atomically after each step (spool-progress.ts)
 *   control/        requests from `spamgate queue` to a running instance (flush, remove-ID)
 *   corrupt/        message files (and their state) found damaged at start-up, moved aside for a person
 *                   to look at: never delivered, never deleted (as Postfix's "corrupt" queue); their progress
 *                   record is removed then
 *   lock            pid of the running instance
 */
export const SUBDIRS = ['tmp', 'msg', 'state', 'progress', 'control', 'corrupt'] as const;
const MAGIC = 'SGQ1';

export type RecipientStatus = 'pending' | 'delivered' | 'failed';

export interface RecipientState {
  status: RecipientStatus;
  /** Last reply for this recipient (for failed: the reason). */
  reply?: NextHopReply;
  /** Where it went or failed: 'upstream' | 'local' | 'remote'. */
  destination?: string;
  /** Host that gave the reply (DSN Remote-MTA). */
  remoteMta?: string;
  /** A failure DSN has been enqueued for this recipient. */
  reported?: boolean;
}

export interface DeliveryState {
  attempts: number;
  /** ms since epoch; 0 = due now. */
  nextAttemptAt: number;
  lastAttemptAt?: number;
  lastError?: string;
  delayWarned: boolean;
  /** Put on hold by `spamgate queue hold`: not tried, warned about or expired until released. */
  held?: boolean;
  recipients: Record<string, RecipientState>;
}

export function initialState(envelope: QueueEnvelope): DeliveryState {
  const recipients: Record<string, RecipientState> = {};
  for (const r of envelope.rcptTo) recipients[r] = { status: 'pending' };
  return { attempts: 0, nextAttemptAt: 0, delayWarned: false, recipients };
}

export interface SpoolPaths {
  root: string;
  tmp: string;
  msg: string;
  state: string;
  progress: string;
  control: string;
  corrupt: string;
  lock: string;
}

export function spoolPaths(root: string): SpoolPaths {
  return {
    root,
    tmp: path.join(root, 'tmp'),
    msg: path.join(root, 'msg'),
    state: path.join(root, 'state'),
    progress: path.join(root, 'progress'),
    control: path.join(root, 'control'),
    corrupt: path.join(root, 'corrupt'),
    lock: path.join(root, 'lock'),
  };
}

export const msgFile = (p: SpoolPaths, id: string): string => path.join(p.msg, `${id}.msg`);
export const stateFile = (p: SpoolPaths, id: string): string => path.join(p.state, `${id}.json`);
export const progressFile = (p: SpoolPaths, id: string): string => path.join(p.progress, `${id}.json`);
export const ID_PATTERN = /^[0-9a-z]{9}-[0-9a-z]{5}-[0-9a-f]{6}$/;

/** Ids sort by acceptance time: 9 base-36 digits of ms, a per-process sequence, random bits. */
export function createIdGenerator(now: () => number): () => string {
  let seq = randomBytes(2).readUInt16BE(0);
  return () => {
    seq = (seq + 1) % 36 ** 5;
    return `${now().toString(36).padStart(9, '0')}-${seq.toString(36).padStart(5, '0')}-${randomBytes(3).toString('hex')}`;
  };
}

/** Approximate acceptance time encoded in an id. */
export function idTime(id: string): number {
  return parseInt(id.slice(0, 9), 36);
}

export function encodeHeader(envelope: QueueEnvelope): Buffer {
  const json = Buffer.from(JSON.stringify(envelope), 'utf8');
  return Buffer.concat([Buffer.from(`${MAGIC} ${json.length}\n`, 'latin1'), json, Buffer.from('\n', 'latin1')]);
}

function parseHead(buf: Buffer, file: string): { jsonStart: number; jsonLen: number } {
  const nl = buf.indexOf(10);
  const m = nl > 0 ? /^SGQ1 (\d+)$/.exec(buf.subarray(0, nl).toString('latin1')) : null;
  if (!m || m[1] === undefined) throw new Error(`${file}: not a spool message file`);
  return { jsonStart: nl + 1, jsonLen: Number(m[1]) };
}

function parseJson(bytes: Buffer, file: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new Error(`${file}: damaged envelope (${err instanceof Error ? err.message : String(err)})`);
  }
}

/** Reads a whole message file: envelope and raw message bytes. */
export async function readMessageFile(file: string): Promise<{ envelope: QueueEnvelope; message: Buffer }> {
  const buf = await readFile(file);
  const { jsonStart, jsonLen } = parseHead(buf, file);
  if (jsonStart + jsonLen + 1 > buf.length) throw new Error(`${file}: damaged envelope (its length ${jsonLen} runs past the end of the file)`);
  const envelope = parseEnvelope(parseJson(buf.subarray(jsonStart, jsonStart + jsonLen), file), file);
  return { envelope, message: buf.subarray(jsonStart + jsonLen + 1) };
}

/** Reads only the envelope and the message size (for listing large queues). */
export async function readEnvelopeFile(file: string): Promise<{ envelope: QueueEnvelope; size: number }> {
  const fh = await open(file, 'r');
  try {
    const { size: fileSize } = await fh.stat();
    let head = Buffer.alloc(Math.min(fileSize, 8192));
    await fh.read(head, 0, head.length, 0);
    const { jsonStart, jsonLen } = parseHead(head, file);
    if (jsonStart + jsonLen + 1 > fileSize) throw new Error(`${file}: damaged envelope (its length ${jsonLen} runs past the end of the file)`);
    if (jsonStart + jsonLen > head.length) {
      head = Buffer.alloc(jsonStart + jsonLen);
      await fh.read(head, 0, head.length, 0);
    }
    const envelope = parseEnvelope(parseJson(head.subarray(jsonStart, jsonStart + jsonLen), file), file);
    return { envelope, size: fileSize - jsonStart - jsonLen - 1 };
  } finally {
    await fh.close();
  }
}

/** A state file's JSON, unchecked (see checkState in spool-validate.ts); undefined when there is none. */
export async function readRawStateFile(file: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as unknown;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** A state file checked for shape (not against its envelope); undefined when there is none, an Error when damaged. */
export async function readStateFile(file: string): Promise<DeliveryState | undefined> {
  const json = await readRawStateFile(file);
  return json === undefined ? undefined : parseState(json, file);
}

/** Ids of the committed messages, oldest first. */
export async function listIds(p: SpoolPaths): Promise<string[]> {
  const names = await readdir(p.msg).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  return names
    .filter((n) => n.endsWith('.msg'))
    .map((n) => n.slice(0, -4))
    .sort();
}
