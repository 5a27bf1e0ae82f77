// The one entry for turning Sieve text into a compiled script: size bound, parse, validate; every problem with
// its line and column. Used by `spamgate users sieve set|check` and by delivery.
import { SieveSyntaxError, type SieveProblem } from './errors.ts';
import { parseSieve } from './parser.ts';
import type { CompiledScript } from './script.ts';
import { validateSieve } from './validate.ts';

/** Scripts larger than this are refused (bytes). */
export const MAX_SCRIPT_BYTES = 64 * 1024;

export type CompileResult = { ok: true; script: CompiledScript } | { ok: false; problems: SieveProblem[] };

export function compileSieve(text: string): CompileResult {
  if (Buffer.byteLength(text, 'utf8') > MAX_SCRIPT_BYTES) return { ok: false, problems: [{ line: 1, col: 1, message: `script larger than ${MAX_SCRIPT_BYTES} bytes` }] };
  if (text.includes('\0')) {
    const before = text.slice(0, text.indexOf('\0')).split('\n');
    return { ok: false, problems: [{ line: before.length, col: (before[before.length - 1] ?? '').length + 1, message: 'NUL character in the script' }] };
  }
  try {
    const { script, problems } = validateSieve(parseSieve(text));
    return problems.length ? { ok: false, problems } : { ok: true, script };
  } catch (err) {
    if (err instanceof SieveSyntaxError) return { ok: false, problems: [{ line: err.line, col: err.col, message: err.message }] };
    throw err;
  }
}
