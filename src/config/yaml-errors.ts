// Turns zod issues on a parsed YAML document into messages naming file, line, key path, expected and found.
import { isMap, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';

export interface ParsedYaml {
  file: string;
  doc: Document.Parsed;
  lines: LineCounter;
  value: unknown;
  /** YAML syntax errors, already formatted. */
  syntaxErrors: string[];
}

export function parseYamlFile(file: string, text: string): ParsedYaml {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const syntaxErrors = doc.errors.map((e) => {
    const pos = e.pos?.[0] !== undefined ? lines.linePos(e.pos[0]) : undefined;
    return `${file}${pos ? `:${pos.line}` : ''}: ${e.message.split('\n')[0]}`;
  });
  return { file, doc, lines, value: syntaxErrors.length ? undefined : doc.toJS(), syntaxErrors };
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

/** One line per zod issue: "file:line: key.path: problem". */
export function formatIssues(parsed: ParsedYaml, issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[] = []): string[] {
  const out: string[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const full = [...path, key];
        const line = lineOf(parsed, full);
        out.push(`${parsed.file}${line ? `:${line}` : ''}: ${formatPath(full)}: unknown key`);
      }
      continue;
    }
    const line = lineOf(parsed, path);
    out.push(`${parsed.file}${line ? `:${line}` : ''}: ${formatPath(path)}: ${describeIssue(issue, parsed, path)}`);
  }
  return out;
}

function describeIssue(issue: z.core.$ZodIssue, parsed: ParsedYaml, path: readonly PropertyKey[]): string {
  if (issue.code === 'invalid_type') {
    const found = valueAt(parsed.value, path);
    return `expected ${issue.expected}, found ${found === undefined ? 'nothing' : JSON.stringify(found)}`;
  }
  return issue.message;
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
