// Turns zod issues on a parsed YAML document into messages naming file, line, key path, expected and found.
import { isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document } from 'yaml';
import type { z } from 'zod';

export interface ParsedYaml {
  file: string;
  doc: Document.Parsed;
  lines: LineCounter;
  value: unknown;
  /** YAML syntax errors, already formatted. */
  syntaxErrors: string[];
}

/** Aliases expanded per document: enough for any real config, far below an alias bomb ("billion laughs"). */
const MAX_ALIAS_COUNT = 100;

export function parseYamlFile(file: string, text: string): ParsedYaml {
  const lines = new LineCounter();
  // The yaml library's uniqueKeys compares each key with every earlier one of its map: quadratic, 15 s
  // for a 3 MB rules file. Duplicates are found below in one pass instead.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
  const at = (offset: number | undefined): string => (offset !== undefined ? `:${lines.linePos(offset).line}` : '');
  const syntaxErrors = doc.errors.map((e) => `${file}${at(e.pos?.[0])}: ${syntaxMessage(e.message)}`);
  if (syntaxErrors.length === 0) {
    for (const dup of duplicateKeys(doc)) {
      syntaxErrors.push(`${file}${at(dup.offset)}: duplicate key ${JSON.stringify(dup.key)} (first at line ${lines.linePos(dup.firstOffset).line}); a later one would silently replace it`);
    }
  }
  if (syntaxErrors.length === 0) {
    // A key that is itself a list or mapping has no key path; js-yaml-style stringifying would hide it.
    visit(doc, {
      Pair(_, pair) {
        if (pair.key !== null && !isScalar(pair.key)) {
          const range = (pair.key as { range?: [number, number, number] }).range;
          syntaxErrors.push(`${file}${at(range?.[0])}: a key must be a plain name, not a list or mapping`);
        }
      },
    });
  }
  let value: unknown;
  if (syntaxErrors.length === 0) {
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (err) {
      syntaxErrors.push(`${file}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  return { file, doc, lines, value, syntaxErrors };
}

interface DuplicateKey {
  key: string;
  offset: number | undefined;
  firstOffset: number;
}

/**
 * Keys given twice in one mapping, in linear time: a Set per map, an explicit stack instead of recursion
 * (a deeply nested file cannot overflow it). Aliases are not followed: their target is walked where it
 * stands. Only scalar keys are compared (others are refused as keys anyway), by value as the yaml library
 * does (so 1 and "1" differ).
 */
function duplicateKeys(doc: Document.Parsed): DuplicateKey[] {
  const found: DuplicateKey[] = [];
  const stack: unknown[] = [doc.contents];
  while (stack.length > 0) {
    const node = stack.pop();
    if (isSeq(node)) {
      for (const item of node.items) stack.push(item);
    } else if (isMap(node)) {
      const seen = new Map<unknown, number>();
      for (const pair of node.items) {
        stack.push(pair.value);
        if (!isScalar(pair.key)) continue;
        const offset = pair.key.range?.[0];
        const first = seen.get(pair.key.value);
        if (first === undefined) seen.set(pair.key.value, offset ?? 0);
        else found.push({ key: String(pair.key.value), offset, firstOffset: first });
      }
    }
  }
  return found.sort((a, b) => (a.offset ?? 0) - (b.offset ?? 0));
}

/** The yaml library's first line, with its API advice turned into advice on the file. */
function syntaxMessage(message: string): string {
  const first = message.split('\n')[0] ?? message;
  if (/multiple documents/i.test(first)) return 'more than one YAML document (a second "---"); keep every key in one document';
  return first;
}

/** Line of the node at a key path, or of its nearest existing parent. */
export function lineOf(parsed: ParsedYaml, path: readonly PropertyKey[]): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = parsed.doc.getIn(path.slice(0, n) as unknown[], true) as { range?: [number, number, number] } | undefined;
    if (node && typeof node === 'object' && node.range) return parsed.lines.linePos(node.range[0]).line;
  }
  return undefined;
}

export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(top level)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

/** One line per zod issue: "file:line: key.path: problem", in file order. */
export function formatIssues(parsed: ParsedYaml, issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[] = []): string[] {
  const out: { line: number; text: string }[] = [];
  const push = (path: readonly PropertyKey[], problem: string): void => {
    const line = lineOf(parsed, path);
    out.push({ line: line ?? 0, text: `${parsed.file}${line ? `:${line}` : ''}: ${formatPath(path)}: ${problem}` });
  };
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) push([...path, key], 'unknown key');
      continue;
    }
    const alt = alternativeOf(issue);
    if (alt && !parsed.doc.hasIn(path) && parsed.doc.hasIn([...prefix, ...alt.path])) {
      push([...prefix, ...alt.path], alt.message);
      continue;
    }
    push(path, describeIssue(issue, valueAt(parsed.value, path)));
  }
  // Stable sort: problems of one line keep zod's order.
  return out.sort((a, b) => a.line - b.line).map((p) => p.text);
}

/** A custom issue's `params.alternative` (see cross-checks.ts AlternativeIssue), when well formed. */
function alternativeOf(issue: z.core.$ZodIssue): { path: string[]; message: string } | undefined {
  if (issue.code !== 'custom') return undefined;
  const alt: unknown = issue.params?.['alternative'];
  if (typeof alt !== 'object' || alt === null) return undefined;
  const { path, message } = alt as { path?: unknown; message?: unknown };
  if (!Array.isArray(path) || !path.every((p): p is string => typeof p === 'string') || typeof message !== 'string') return undefined;
  return { path, message };
}

/** A found value for a message: JSON, but Infinity/NaN as themselves and a missing value as "nothing". */
export function shown(value: unknown): string {
  if (value === undefined || value === null) return 'nothing';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  const json = JSON.stringify(value);
  return json === undefined ? String(value) : json.length > 80 ? `${json.slice(0, 77)}...` : json;
}

function describeIssue(issue: z.core.$ZodIssue, found: unknown): string {
  const foundText = `found ${shown(found)}`;
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${issue.expected}, ${foundText}`;
    case 'too_big':
    case 'too_small': {
      const big = issue.code === 'too_big';
      const bound = big ? issue.maximum : issue.minimum;
      const words = big ? (issue.inclusive ? 'at most' : 'below') : issue.inclusive ? 'at least' : 'above';
      const unit = issue.origin === 'array' || issue.origin === 'set' ? ' entries' : issue.origin === 'string' ? ' characters' : '';
      const what = unit ? `${words} ${String(bound)}${unit}` : `a number ${words} ${String(bound)}`;
      return `expected ${what}, ${unit ? `found ${Array.isArray(found) || typeof found === 'string' ? found.length : shown(found)}` : foundText}`;
    }
    case 'invalid_key':
      // a key of a map (a domain of outbound.routes, …): what is wrong with the key itself, not "Invalid key in record"
      return issue.issues.map((i) => i.message).join('; ') || issue.message;
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, ${foundText}`;
    default:
      // Refinements of a whole section already say what is wrong; a leaf value is worth showing.
      return /\bfound\b/.test(issue.message) || found === undefined || (found !== null && typeof found === 'object') ? issue.message : `${issue.message}, ${foundText}`;
  }
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

/** True when the document's root is a mapping (or empty). */
export function rootIsMap(parsed: ParsedYaml): boolean {
  const c = parsed.doc.contents;
  return c === null || isMap(c) || (!isSeq(c) && parsed.value === null);
}
