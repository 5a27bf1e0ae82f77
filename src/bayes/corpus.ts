// Reads training corpora: single files, directories (recursively, sorted) and mbox files split at "From " lines.
// A file that cannot be read is reported as an error item, never thrown: one bad file does not stop a run.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

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

/** "no such file or directory" rather than "ENOENT: no such file or directory, stat 'x'". */
export function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const m = /^[A-Z]+: (.*?)(?:, \w+ '.*')?$/.exec(e.message ?? '');
  return m?.[1] ?? e.message ?? String(err);
}

/**
 * Files under `p` (a file or a directory, recursively; dot-files and the corpus package's .json sidecars
 * skipped, symbolic links followed), sorted, at most `max`. Unreadable directories go to `problems`.
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
  for (let guard = 0; stack.length > 0 && guard < 100_000 && out.length < max; guard++) {
    const dir = stack.pop() ?? '';
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      problems.push({ id: dir, error: reason(err) });
      continue;
    }
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
      if (isDir) stack.push(full);
      else if (isFile) out.push(full);
    }
  }
  return out.sort().slice(0, max);
}

/** True when the buffer looks like an mbox with more than one message. */
export function isMbox(raw: Buffer): boolean {
  if (!raw.subarray(0, 5).equals(Buffer.from('From '))) return false;
  return raw.indexOf('\nFrom ', 5) >= 0;
}

/**
 * Splits an mbox (mboxrd/mboxo) into messages at "From " lines that open the file or follow an empty line
 * (an unescaped "From " inside a paragraph stays body text), unescaping ">From " lines.
 */
export function splitMbox(raw: Buffer): Buffer[] {
  const text = raw.toString('latin1');
  const out: Buffer[] = [];
  const starts: number[] = [];
  const re = /(^|\n\r?\n)From [^\n]*\n/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) starts.push(m.index + (m[1] ?? '').length);
  for (let i = 0; i < starts.length; i++) {
    const begin = text.indexOf('\n', starts[i]) + 1;
    const end = i + 1 < starts.length ? (starts[i + 1] ?? text.length) : text.length;
    const body = text.slice(begin, end).replace(/^>(>*From )/gm, '$1');
    out.push(Buffer.from(body, 'latin1'));
  }
  return out;
}

/** Every message under the given paths, in a stable order; unreadable files and directories as error items. */
export function* readCorpus(paths: readonly string[]): Generator<CorpusMessage> {
  for (const p of paths) {
    const problems: { id: string; error: string }[] = [];
    const files = listCorpusFiles(p, undefined, problems);
    yield* problems;
    for (const file of files) {
      let raw: Buffer;
      try {
        raw = readFileSync(file);
      } catch (err) {
        yield { id: file, error: reason(err) };
        continue;
      }
      if (isMbox(raw)) {
        let n = 0;
        for (const msg of splitMbox(raw)) yield { id: `${file}#${++n}`, raw: msg };
      } else yield { id: file, raw };
    }
  }
}
