// Reads a list file: one entry per line, "#" starts a comment (whole line or after the entry), blank lines
// ignored. Bounded in bytes, line length and entries; every problem is reported as "file:line: ...".
import { statSync } from 'node:fs';
import { readFailure } from '../config/load.ts';
import { readBounded } from '../util/read-bounded.ts';
import type { EntrySet } from './entries.ts';

/** A list file is read whole at every reload: bounded so a wrong path (a log, a device) cannot stall it. */
export const MAX_LIST_FILE_BYTES = 16 * 1024 * 1024;
/** Entries of one list (inline and file together). */
export const MAX_LIST_ENTRIES = 500_000;
const MAX_LINE = 1_000;
/** Problems reported per file: a wrong file (not a list) would otherwise give one per line. */
const MAX_PROBLEMS = 20;

/**
 * Adds the entries of `file` to `set`; returns the problems, each naming `file:line`. `shown` is how
 * the matched entry's origin names the file (as the rules file wrote it).
 */
export function readListFile(file: string, shown: string, set: EntrySet): string[] {
  let buf: Buffer;
  try {
    // a pipe would block the (synchronous) load until someone writes to it, a device never ends: files only
    if (!statSync(file).isFile()) return [`${file}: not a regular file; not a list file`];
    buf = readBounded(file, MAX_LIST_FILE_BYTES + 1);
  } catch (err) {
    return [`${file}: cannot read list file: ${readFailure(err)}`];
  }
  if (buf.length > MAX_LIST_FILE_BYTES) return [`${file}: larger than ${MAX_LIST_FILE_BYTES} bytes; not a list file`];
  const text = buf.toString('utf8');
  if (text.includes('\u0000') || text.includes('\ufffd')) return [`${file}: not UTF-8 text (a binary file?)`];
  const problems: string[] = [];
  const lines = text.split('\n');
  for (const [i, line] of lines.entries()) {
    if (problems.length >= MAX_PROBLEMS) {
      problems.push(`${file}: more problems not shown`);
      break;
    }
    const n = i + 1;
    if (line.length > MAX_LINE) {
      problems.push(`${file}:${n}: line longer than ${MAX_LINE} characters`);
      continue;
    }
    const hash = line.indexOf('#');
    const entry = (hash < 0 ? line : line.slice(0, hash)).trim();
    if (entry === '') continue;
    if (set.size >= MAX_LIST_ENTRIES) {
      problems.push(`${file}:${n}: more than ${MAX_LIST_ENTRIES} entries in one list`);
      break;
    }
    const problem = set.add(entry, `${shown}:${n}`);
    if (problem) problems.push(`${file}:${n}: ${problem}`);
  }
  return problems;
}
