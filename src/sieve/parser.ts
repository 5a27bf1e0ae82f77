// Sieve parser (RFC 5228 §8.2 grammar): commands with arguments, tests, test lists and blocks into a syntax tree.
// Only syntax here; which commands, tests and tags exist is the validator's job.
import { SieveSyntaxError, type SievePosition } from './errors.ts';
import { tokenize, type Token } from './lexer.ts';

export type SieveArgument =
  /** A string or a string list; `list` tells which was written (some arguments take only a string). */
  | ({ kind: 'strings'; values: string[]; list: boolean } & SievePosition)
  | ({ kind: 'number'; value: number } & SievePosition)
  | ({ kind: 'tag'; name: string } & SievePosition);

export interface SieveTestNode extends SievePosition {
  name: string;
  args: SieveArgument[];
  tests: SieveTestNode[];
}

export interface SieveCommandNode extends SievePosition {
  name: string;
  args: SieveArgument[];
  tests: SieveTestNode[];
  /** Present when the command ends with a block instead of ';'. */
  block?: SieveCommandNode[];
}

/** Blocks and tests nested deeper than this are refused (a bound on recursion). */
export const MAX_NESTING = 32;
/** Strings in one string list. */
const MAX_LIST = 1024;

export function parseSieve(text: string): SieveCommandNode[] {
  const tokens = tokenize(text);
  let p = 0;
  const peek = (): Token => tokens[p] ?? (tokens[tokens.length - 1] as Token);
  const next = (): Token => {
    const t = peek();
    if (t.kind !== 'eof') p++;
    return t;
  };
  const fail = (t: Token, message: string): never => {
    throw new SieveSyntaxError(t.line, t.col, message);
  };
  const describe = (t: Token): string => (t.kind === 'eof' ? 'end of script' : t.kind === 'string' ? 'a string' : t.kind === 'tag' ? `":${t.value}"` : `"${String(t.value)}"`);
  const isPunct = (t: Token, v: string): boolean => t.kind === 'punct' && t.value === v;

  const stringList = (open: Token): SieveArgument => {
    const values: string[] = [];
    for (;;) {
      const t = next();
      if (t.kind !== 'string') return fail(t, `expected a string in the list, found ${describe(t)}`);
      if (values.length >= MAX_LIST) fail(t, `string list longer than ${MAX_LIST}`);
      values.push(t.value);
      const sep = next();
      if (isPunct(sep, ']')) return { kind: 'strings', values, list: true, line: open.line, col: open.col };
      if (!isPunct(sep, ',')) fail(sep, `expected "," or "]" in the string list, found ${describe(sep)}`);
    }
  };

  const argumentsOf = (depth: number): { args: SieveArgument[]; tests: SieveTestNode[] } => {
    const args: SieveArgument[] = [];
    for (;;) {
      const t = peek();
      if (t.kind === 'string') {
        next();
        args.push({ kind: 'strings', values: [t.value], list: false, line: t.line, col: t.col });
      } else if (t.kind === 'number') {
        next();
        args.push({ kind: 'number', value: t.value, line: t.line, col: t.col });
      } else if (t.kind === 'tag') {
        next();
        args.push({ kind: 'tag', name: t.value, line: t.line, col: t.col });
      } else if (isPunct(t, '[')) {
        next();
        args.push(stringList(t));
      } else break;
    }
    const t = peek();
    if (t.kind === 'identifier') return { args, tests: [test(depth + 1)] };
    if (isPunct(t, '(')) {
      next();
      const tests: SieveTestNode[] = [];
      for (;;) {
        tests.push(test(depth + 1));
        const sep = next();
        if (isPunct(sep, ')')) break;
        if (!isPunct(sep, ',')) fail(sep, `expected "," or ")" in the test list, found ${describe(sep)}`);
      }
      return { args, tests };
    }
    return { args, tests: [] };
  };

  const test = (depth: number): SieveTestNode => {
    const t = next();
    if (t.kind !== 'identifier') return fail(t, `expected a test, found ${describe(t)}`);
    if (depth > MAX_NESTING) fail(t, `nested deeper than ${MAX_NESTING}`);
    const { args, tests } = argumentsOf(depth);
    return { name: t.value, args, tests, line: t.line, col: t.col };
  };

  const commands = (depth: number, inBlock: boolean): SieveCommandNode[] => {
    const out: SieveCommandNode[] = [];
    for (;;) {
      const t = peek();
      if (t.kind === 'eof') {
        if (inBlock) fail(t, 'expected "}" before the end of the script');
        return out;
      }
      if (inBlock && isPunct(t, '}')) {
        next();
        return out;
      }
      next();
      if (t.kind !== 'identifier') return fail(t, `expected a command, found ${describe(t)}`);
      const { args, tests } = argumentsOf(depth);
      const end = next();
      if (isPunct(end, ';')) out.push({ name: t.value, args, tests, line: t.line, col: t.col });
      else if (isPunct(end, '{')) {
        if (depth + 1 > MAX_NESTING) fail(end, `blocks nested deeper than ${MAX_NESTING}`);
        out.push({ name: t.value, args, tests, block: commands(depth + 1, true), line: t.line, col: t.col });
      } else fail(end, `expected ";" or "{" after command "${t.value}", found ${describe(end)}`);
    }
  };

  return commands(0, false);
}
