// Reads training corpora: single files, directories (recursively, sorted) and mbox files (streamed, split at
// "From " lines).
// A file that cannot be read is reported as an error item, never thrown: one bad file does not stop a run.
import { closeSync, fstatSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import { readBoundedFd } from '../util/read-bounded.ts';
import { readMbox, type MboxItem } from './mbox-reader.ts';

export type CorpusMessage =
  /** id: file path, with "#n" for the n-th message of an mbox. */
  | { id: string; raw: Buffer; error?: undefined }
  /** A file or directory that could not be read, and why. */
  | { id: string; raw?: undefined; error: string };

/** Paths that do not exist or cannot be stat'ed, each with a one-line reason ("PATH: no such file or directory"). */
export function missingPaths(paths: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    try {
      statSync(p);
    } catch (err) {
      out.push(`${p}: ${reason(err)}`);
    }
  }
  return out;
}

/**
 * A message id (a path, "#n" for an mbox) for one line of text output: JSON-quoted when it holds a tab, a
 * line break or another control character, which would break the line's fields or the line itself.
 */
export function displayId(id: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f]/.test(id) ? JSON.stringify(id) : id;
}

/** "no such file or directory" rather than "ENOENT: no such file or directory, stat 'x'". */
export function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const m = /^[A-Z]+: (.*?)(?:, \w+ '.*')?$/.exec(e.message ?? '');
  return m?.[1] ?? e.message ?? String(err);
}

/**
 * Files under `p` (a file or a directory, recursively; dot-files and the corpus package's .json sidecars
 * skipped, symbolic links followed, each directory walked once however many links lead to it), sorted, at
 * most `max`. A directory with `cur` and `new` subdirectories is a Maildir: its messages are the files in
 * those two; the files beside them (dovecot-uidlist, spamgate.index, subscriptions…) are not messages and
 * `tmp` holds deliveries under way. Unreadable directories go to `problems`, and so does a tree past the bounds.
 */
export function listCorpusFiles(p: string, max = 1_000_000, problems: { id: string; error: string }[] = []): string[] {
  let st;
  try {
    st = statSync(p);
  } catch (err) {
    problems.push({ id: p, error: reason(err) });
    return [];
  }
  if (!st.isDirectory()) return [p];
  const out: string[] = [];
  const stack = [p];
  // device and inode of each directory walked: a link back up the tree is not followed round again
  const seen = new Set<string>([`${st.dev}:${st.ino}`]);
  for (let guard = 0; stack.length > 0 && guard < 100_000 && out.length < max; guard++) {
    const dir = stack.pop() ?? '';
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      problems.push({ id: dir, error: reason(err) });
      continue;
    }
    const kinds: { full: string; name: string; isDir: boolean; isFile: boolean }[] = [];
    for (const e of entries) {
      if (e.name.startsWith('.') || e.name.endsWith('.json')) continue;
      const full = path.join(dir, e.name);
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        try {
          const target = statSync(full);
          isDir = target.isDirectory();
          isFile = target.isFile();
        } catch (err) {
          problems.push({ id: full, error: reason(err) });
        }
      }
      kinds.push({ full, name: e.name, isDir, isFile });
    }
    const maildir = ['cur', 'new'].every((n) => kinds.some((k) => k.isDir && k.name === n));
    for (const k of kinds) {
      if (maildir && (k.isFile || k.name === 'tmp')) continue;
      if (k.isDir) {
        let id: string;
        try {
          const d = statSync(k.full);
          id = `${d.dev}:${d.ino}`;
        } catch (err) {
          problems.push({ id: k.full, error: reason(err) });
          continue;
        }
        if (seen.has(id)) continue;
        seen.add(id);
        stack.push(k.full);
      } else if (k.isFile) out.push(k.full);
    }
  }
  // bounded, but never silently: a corpus cut short is reported (train and classify exit 1)
  if (out.length > max || stack.length > 0) problems.push({ id: p, error: `more than ${max} files or 100000 directories: the rest was not read` });
  return out.sort().slice(0, max);
}

/** Messages larger than this (a single file, or one message of an mbox) are reported and skipped. */
export const CORPUS_MESSAGE_MAX_BYTES = 64 * 1024 * 1024;

/**
 * Every message under the given paths, in a stable order; unreadable files and directories, and messages
 * over `maxMessageBytes`, as error items. An mbox is streamed message by message (bounded memory); a file
 * that starts with "From " but holds one message keeps the file's path as its id.
 */
export function* readCorpus(paths: readonly string[], maxMessageBytes = CORPUS_MESSAGE_MAX_BYTES): Generator<CorpusMessage> {
  for (const p of paths) {
    const problems: { id: string; error: string }[] = [];
    const files = listCorpusFiles(p, undefined, problems);
    yield* problems;
    for (const file of files) {
      try {
        yield* readOneFile(file, maxMessageBytes);
      } catch (err) {
        yield { id: file, error: reason(err) };
      }
    }
  }
}

/** Up to `n` bytes from where the file stands (a pipe may give fewer per read). */
function readHead(fd: number, n: number): Buffer {
  const head = Buffer.alloc(n);
  let got = 0;
  for (let i = 0; i < n && got < n; i++) {
    const r = readSync(fd, head, got, n - got, null);
    if (r === 0) break;
    got += r;
  }
  return head.subarray(0, got);
}

/**
 * The messages of one file, read through one descriptor from start to end: a pipe (/dev/stdin, a shell's
 * <(zcat corpus.mbox.gz)) is read once, so the bytes that told an mbox from a message are not lost.
 */
function* readOneFile(file: string, maxMessageBytes: number): Generator<CorpusMessage> {
  const fd = openSync(file, 'r');
  try {
    const head = readHead(fd, 5);
    const st = fstatSync(fd);
    if (!head.equals(Buffer.from('From '))) {
      if (st.isFile() && st.size > maxMessageBytes) {
        yield { id: file, error: `${st.size} bytes, over the ${maxMessageBytes}-byte limit, skipped` };
        return;
      }
      // A device or a pipe has no size: the read itself is bounded (/dev/zero would take all memory).
      const raw = Buffer.concat([head, readBoundedFd(fd, maxMessageBytes + 1 - head.length)]);
      yield raw.length > maxMessageBytes ? { id: file, error: `over the ${maxMessageBytes}-byte limit, skipped` } : { id: file, raw };
      return;
    }
    // hold the first message back until a second shows whether this is a one-message file
    let first: MboxItem | undefined;
    let many = false;
    const asMessage = (m: MboxItem, id: string): CorpusMessage => (m.error !== undefined ? { id, error: m.error } : { id, raw: m.raw });
    try {
      for (const m of readMbox(fd, maxMessageBytes, undefined, head)) {
        if (first === undefined) {
          first = m;
          continue;
        }
        if (!many) {
          many = true;
          yield asMessage(first, `${file}#1`);
        }
        yield asMessage(m, `${file}#${m.index}`);
      }
    } catch (err) {
      // a read error after the first message: that message still counts, then the error is reported
      if (first !== undefined && !many) yield asMessage(first, `${file}#1`);
      throw err;
    }
    if (first !== undefined && !many) yield asMessage(first, file);
  } finally {
    closeSync(fd);
  }
}
