// Where a content rule was defined: "file:line" of a symbol's content_rules entry, for load-time errors
// found after the sections were merged (a meta expression naming an unknown symbol, a cycle of meta rules).
import { isMap, isSeq } from 'yaml';
import { readYamlText } from '../config/load.ts';
import { lineOf, parseYamlFile } from '../config/yaml-errors.ts';

/**
 * "file:line: content_rules[i].key" of the last definition of `symbol` among the rules files (later files
 * override earlier ones), or "rules: content_rules SYMBOL" when it cannot be found (inline rules in tests).
 */
export function locateContentRule(files: readonly string[], symbol: string, key = 'symbol'): string {
  let found: string | undefined;
  for (const file of files) {
    let text: string;
    try {
      text = readYamlText(file, 'rules file');
    } catch {
      continue;
    }
    const parsed = parseYamlFile(file, text);
    const seq = isMap(parsed.doc.contents) ? parsed.doc.contents.get('content_rules', true) : undefined;
    if (!isSeq(seq)) continue;
    seq.items.forEach((item, i) => {
      if (!isMap(item) || item.get('symbol') !== symbol) return;
      const path = ['content_rules', i, key];
      const line = lineOf(parsed, path);
      found = `${file}${line ? `:${line}` : ''}: content_rules[${i}].${key}`;
    });
  }
  return found ?? `rules: content_rules ${symbol}`;
}
