// Reads training corpora: single files, directories (recursively, sorted) and mbox files split at "From " lines.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

export interface CorpusMessage {
  /** File path, with "#n" for the n-th message of an mbox. */
  id: string;
  raw: Buffer;
}

/** Files under `p` (a file or a directory, recursively; dot-files skipped), sorted, at most `max`. */
export function listCorpusFiles(p: string, max = 1_000_000): string[] {
  const st = statSync(p);
  if (!st.isDirectory()) return [p];
  const out: string[] = [];
  const stack = [p];
  for (let guard = 0; stack.length > 0 && guard < 100_000 && out.length < max; guard++) {
    const dir = stack.pop() ?? '';
    const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? 1 : -1));
    for (const e of entries) {
      if (e.name.startsWith('.') || e.name.endsWith('.json')) continue;
      const full = path.join(dir, e.name);
      if (e.isDirectory()) stack.push(full);
      else if (e.isFile()) out.push(full);
    }
  }
  return out.sort().slice(0, max);
}

/** True when the buffer looks like an mbox with more than one message. */
export function isMbox(raw: Buffer): boolean {
  if (!raw.subarray(0, 5).equals(Buffer.from('From '))) return false;
  return raw.indexOf('\nFrom ', 5) >= 0;
}

/** Splits an mbox (mboxrd/mboxo) into messages, unescaping ">From " lines. */
export function splitMbox(raw: Buffer): Buffer[] {
  const text = raw.toString('latin1');
  const out: Buffer[] = [];
  const starts: number[] = [];
  const re = /(^|\n)From [^\n]*\n/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) starts.push(m.index + (m[1] ? 1 : 0));
  for (let i = 0; i < starts.length; i++) {
    const begin = text.indexOf('\n', starts[i]) + 1;
    const end = i + 1 < starts.length ? (starts[i + 1] ?? text.length) : text.length;
    const body = text.slice(begin, end).replace(/^>(>*From )/gm, '$1');
    out.push(Buffer.from(body, 'latin1'));
  }
  return out;
}

/** Every message under the given paths, in a stable order. */
export function* readCorpus(paths: readonly string[]): Generator<CorpusMessage> {
  for (const p of paths) {
    for (const file of listCorpusFiles(p)) {
      const raw = readFileSync(file);
      if (isMbox(raw)) {
        let n = 0;
        for (const msg of splitMbox(raw)) yield { id: `${file}#${++n}`, raw: msg };
      } else yield { id: file, raw };
    }
  }
}
