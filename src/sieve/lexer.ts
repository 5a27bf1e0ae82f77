// Sieve lexer (RFC 5228 §2.2–§2.4, §8.1): identifiers, tags, numbers with K/M/G, quoted and multi-line
// strings, brackets and separators; hash and bracket comments skipped. Every token carries its line and column.
import { SieveSyntaxError, type SievePosition } from './errors.ts';

export type Token =
  | ({ kind: 'identifier'; value: string } & SievePosition)
  | ({ kind: 'tag'; value: string } & SievePosition)
  | ({ kind: 'number'; value: number } & SievePosition)
  | ({ kind: 'string'; value: string } & SievePosition)
  | ({ kind: 'punct'; value: '[' | ']' | '(' | ')' | '{' | '}' | ',' | ';' } & SievePosition)
  | ({ kind: 'eof' } & SievePosition);

/** Tokens one script may have (a bound besides the script size). */
const MAX_TOKENS = 100_000;

/** RFC 5228 §2.4.1: K, M and G multiply by 2^10, 2^20 and 2^30. */
const QUANTIFIERS: Readonly<Record<string, number>> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

export function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const fail = (at: number, message: string, atLine = line, atLineStart = lineStart): never => {
    throw new SieveSyntaxError(atLine, at - atLineStart + 1, message);
  };
  const newline = (at: number): void => {
    line++;
    lineStart = at + 1;
  };
  while (i < text.length) {
    const c = text[i] ?? '';
    if (c === '\n') {
      newline(i);
      i++;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
      continue;
    }
    if (out.length >= MAX_TOKENS) fail(i, `script too long: more than ${MAX_TOKENS} tokens`);
    const pos = { line, col: i - lineStart + 1 };
    if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && text[i + 1] === '*') {
      // RFC 5228 §2.3: bracketed comments do not nest
      const end = text.indexOf('*/', i + 2);
      if (end < 0) fail(i, 'unterminated comment (no "*/")');
      for (let j = i; j < end; j++) if (text[j] === '\n') newline(j);
      i = end + 2;
      continue;
    }
    if ('[](){},;'.includes(c)) {
      out.push({ kind: 'punct', value: c as '[', ...pos });
      i++;
      continue;
    }
    if (c === '"') {
      // RFC 5228 §2.4.2: \" and \\ are escapes; any other backslash is dropped ("\a" is "a")
      let value = '';
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === '\\' && j + 1 < text.length) j++;
        if (text[j] === '\n') newline(j);
        value += text[j];
      }
      if (j >= text.length) fail(i, 'unterminated string (no closing \'"\')', pos.line, i - pos.col + 1);
      out.push({ kind: 'string', value: value.replace(/\r?\n/g, '\r\n'), ...pos });
      i = j + 1;
      continue;
    }
    if (/[0-9]/.test(c)) {
      let j = i;
      while (j < text.length && /[0-9]/.test(text[j] ?? '')) j++;
      let value = Number(text.slice(i, j));
      const q = (text[j] ?? '').toLowerCase();
      if (q in QUANTIFIERS) {
        value *= QUANTIFIERS[q] ?? 1;
        j++;
      }
      if (/[A-Za-z0-9_]/.test(text[j] ?? '')) fail(j, `unexpected "${text[j] ?? ''}" after a number`);
      if (!Number.isSafeInteger(value)) fail(i, 'number too large');
      out.push({ kind: 'number', value, ...pos });
      i = j;
      continue;
    }
    if (c === ':' || /[A-Za-z_]/.test(c)) {
      const start = c === ':' ? i + 1 : i;
      let j = start;
      while (j < text.length && /[A-Za-z0-9_]/.test(text[j] ?? '')) j++;
      const word = text.slice(start, j);
      if (c === ':') {
        if (!/^[A-Za-z_]/.test(word)) fail(i, 'expected a tag name after ":"');
        out.push({ kind: 'tag', value: word.toLowerCase(), ...pos });
        i = j;
        continue;
      }
      // RFC 5228 §2.4.2: text: starts a multi-line string, after optional white space and a hash comment
      if (word.toLowerCase() === 'text' && text[j] === ':') {
        const { value, end } = multiLine(text, j + 1, (at) => fail(at, 'expected a line break after "text:"'), () => fail(i, 'unterminated multi-line string (no line with a single ".")', pos.line, lineStart));
        for (let k = i; k < end; k++) if (text[k] === '\n') newline(k);
        out.push({ kind: 'string', value, ...pos });
        i = end;
        continue;
      }
      out.push({ kind: 'identifier', value: word.toLowerCase(), ...pos });
      i = j;
      continue;
    }
    fail(i, `unexpected character ${JSON.stringify(c)}`);
  }
  out.push({ kind: 'eof', line, col: i - lineStart + 1 });
  return out;
}

/** The body of `text:` from just after the colon: lines up to "." alone, dot-stuffing undone; lines end in CRLF. */
function multiLine(text: string, from: number, badStart: (at: number) => never, unterminated: () => never): { value: string; end: number } {
  let j = from;
  while (text[j] === ' ' || text[j] === '\t') j++;
  if (text[j] === '#') while (j < text.length && text[j] !== '\n') j++;
  if (text[j] === '\r') j++;
  if (text[j] !== '\n') badStart(j);
  j++;
  const lines: string[] = [];
  for (;;) {
    if (j >= text.length) unterminated();
    let nl = text.indexOf('\n', j);
    if (nl < 0) nl = text.length;
    const raw = text.slice(j, nl).replace(/\r$/, '');
    j = nl + 1;
    if (raw === '.') return { value: lines.map((l) => l + '\r\n').join(''), end: Math.min(j, text.length) };
    lines.push(raw.startsWith('.') ? raw.slice(1) : raw);
  }
}
