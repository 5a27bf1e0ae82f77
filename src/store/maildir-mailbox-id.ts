// MAILBOXID (RFC 8474 §4) of a Maildir folder, kept in the folder's own "spamgate-mailboxid" file ("<id> <inode>"),
// written atomically the first time the id is asked for. A RENAME moves the directory and the file with it (same
// inode: same id); DELETE removes both, so a folder made again gets a new one. The inode tells a copy (cp -a,
// rsync of one folder) from the folder it was copied from: a file whose inode is not its directory's is a copy's
// when another folder of the user claims the same id, and the copy then gets a fresh random id; with no such
// claimant (a restore onto another file system) the id is kept and the new inode recorded.
//
// Migration: a folder without the file keeps the id clients saw before ("F" + UIDVALIDITY in base 36), unless
// another folder of the user claims that id too (two folders with the same UIDVALIDITY: Maildirs from Dovecot 1.x,
// whose UIDVALIDITY was a time, or a folder copied before this file existed); then it gets a random id, since
// RFC 8474 §4 forbids one MAILBOXID for two mailboxes more firmly than a one-time change for the folders involved.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createFileExclusive } from '../util/atomic-file.ts';
import { fsyncDir, OPEN_MESSAGE, writeFileAtomic } from './maildir-files.ts';

export const MAILBOXID_FILE = 'spamgate-mailboxid';

/** RFC 8474 §4 objectid, in the forms this store writes: "F" and base 36 (derived) or "F" and 22 base64url (random). */
const STORED_ID = /^F[A-Za-z0-9_-]{1,40}$/;

/**
 * Gives a folder the store has just made its random id, unless it has one (ensureUser over an existing Maildir): its
 * first STATUS then reads one small file, not the claims of every folder (LIST-STATUS asks a STATUS of each).
 */
export async function giveMailboxId(dir: string, fsync: boolean): Promise<void> {
  if (await readStored(dir)) return;
  const ino = (await stat(dir, { bigint: true })).ino.toString();
  await createStored(dir, `${randomMailboxId()} ${ino}\n`, fsync);
}

/**
 * Writes the folder's first file unless one is there (false): linked into place, so of two first writers at once (a
 * delivery's ensureUser and a session's STATUS, two processes) one wins and the other reads the winner's id, rather
 * than each telling its own and the last rename keeping one a client was never told.
 */
async function createStored(dir: string, body: string, fsync: boolean): Promise<boolean> {
  const file = join(dir, MAILBOXID_FILE);
  if (!(await createFileExclusive(file, body))) return false;
  if (fsync) {
    const fh = await open(file, OPEN_MESSAGE);
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsyncDir(dir);
  }
  return true;
}

/** The id clients saw before the file existed: from the folder's UIDVALIDITY. */
export function derivedMailboxId(uidValidity: number): string {
  return 'F' + uidValidity.toString(36);
}

function randomMailboxId(): string {
  return 'F' + randomBytes(16).toString('base64url');
}

interface Stored {
  id: string;
  ino: string;
}

/** Far above "<id> <inode>\n" as written here; a bigger file is none of ours. */
const MAX_STORED_BYTES = 256;

/**
 * The file's text, or undefined when it is gone, no regular file or too big: opened without following a link or
 * blocking (a FIFO planted under its name would otherwise hold the folder's mutex, and a thread of the pool, for ever).
 */
async function readStoredText(file: string): Promise<string | undefined> {
  const fh = await open(file, OPEN_MESSAGE | constants.O_NONBLOCK).catch(() => undefined);
  if (!fh) return undefined;
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.size > MAX_STORED_BYTES) return undefined;
    const buf = Buffer.alloc(MAX_STORED_BYTES + 1);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return bytesRead > MAX_STORED_BYTES ? undefined : buf.subarray(0, bytesRead).toString('utf8');
  } catch {
    return undefined;
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** The folder's file, or undefined when missing or not in the form written here (then it is written anew). */
async function readStored(dir: string): Promise<Stored | undefined> {
  const text = await readStoredText(join(dir, MAILBOXID_FILE));
  const m = text === undefined ? null : /^(\S+) (\d+)\n?$/.exec(text);
  return m?.[1] !== undefined && m[2] !== undefined && STORED_ID.test(m[1]) ? { id: m[1], ino: m[2] } : undefined;
}

/** The UIDVALIDITY in the header of a folder's dovecot-uidlist, reading its first bytes only. */
async function headerValidity(dir: string): Promise<number | undefined> {
  const fh = await open(join(dir, 'dovecot-uidlist'), constants.O_RDONLY | constants.O_NONBLOCK).catch(() => undefined); // no FIFO wait, as readStoredText
  if (!fh) return undefined;
  try {
    const buf = Buffer.alloc(256);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const header = buf.subarray(0, bytesRead).toString('latin1').split('\n')[0] ?? '';
    const v = header.startsWith('3 ') ? /(?:^| )V(\d+)/.exec(header)?.[1] : undefined;
    return v === undefined ? undefined : Number(v);
  } catch {
    return undefined;
  } finally {
    await fh.close();
  }
}

/** The id another folder holds or would be given by derivation (its file's, else from its uid list's UIDVALIDITY). */
async function claimOf(dir: string): Promise<string | undefined> {
  const stored = await readStored(dir);
  if (stored) return stored.id;
  const v = await headerValidity(dir);
  return v === undefined ? undefined : derivedMailboxId(v);
}

/**
 * The ids these folders claim (claimOf), by directory. A listing of every folder reads them once for all: a snapshot
 * taken before some of them got their file still tells every id one of them can end up keeping (the id in its file,
 * or its derived one), so a stale snapshot can only make an id random that need not be, never give one twice.
 */
export async function claimsOf(dirs: readonly string[]): Promise<ReadonlyMap<string, string | undefined>> {
  const out = new Map<string, string | undefined>();
  for (const dir of dirs) out.set(dir, await claimOf(dir));
  return out;
}

/**
 * The folder's MAILBOXID, making and storing it when needed. `uidValidity` is the folder's (synced); `claims` are
 * those of the user's folders (claimsOf), asked only when the file is missing or belongs to another inode.
 */
export async function resolveMailboxId(dir: string, uidValidity: number, claims: () => Promise<ReadonlyMap<string, string | undefined>>, fsync: boolean): Promise<string> {
  const ino = (await stat(dir, { bigint: true })).ino.toString();
  const stored = await readStored(dir);
  if (stored?.ino === ino) return stored.id;
  const candidate = stored?.id ?? derivedMailboxId(uidValidity);
  let taken = false;
  for (const [other, id] of await claims()) if (other !== dir && id === candidate) taken = true;
  const id = taken ? randomMailboxId() : candidate;
  if (stored) {
    // a copy's file (another inode): replaced; the folder's mutex keeps this process's askers one at a time
    await writeFileAtomic(join(dir, MAILBOXID_FILE), `${id} ${ino}\n`, fsync);
    return id;
  }
  if (await createStored(dir, `${id} ${ino}\n`, fsync)) return id;
  // another writer came first (or a file not of our form is there): its id, if it is this folder's, else ours over it
  const now = await readStored(dir);
  if (now?.ino === ino) return now.id;
  await writeFileAtomic(join(dir, MAILBOXID_FILE), `${id} ${ino}\n`, fsync);
  return id;
}
