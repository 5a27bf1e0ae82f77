// Renders a verdict for humans and logs: the X-Spamgate-Result header and the per-symbol listing.
import type { Verdict } from './scorer.ts';

/**
 * Options shown per symbol in the header; the rest are counted ("+N"). The options of one symbol form one
 * word the header cannot be folded in, and RFC 5322 §2.1.1 allows 998 octets a line: 5 of at most 100.
 * The transaction log line has them all.
 */
const HEADER_OPTIONS = 5;

/** Header value: "action; score; SYMBOL(weight)[options] ..." (ARCHITECTURE convention 7). */
export function formatResultHeader(verdict: Verdict, sessionId: string): string {
  const optionsOf = (options: readonly string[]): string => {
    const shown = options.slice(0, HEADER_OPTIONS).map(sanitize);
    if (options.length > HEADER_OPTIONS) shown.push(`+${options.length - HEADER_OPTIONS}`);
    return shown.length ? `[${shown.join(',')}]` : '';
  };
  const symbols = verdict.symbols.map((s) => `${s.symbol}(${typeof s.weight === 'number' ? s.score : s.weight})${optionsOf(s.options)}`);
  return [`${verdict.action}`, `score=${verdict.score}`, `id=${sessionId}`, symbols.join(' ')].filter(Boolean).join('; ');
}

/** Folds a long header value at spaces so no line exceeds 78 octets (RFC 5322 §2.1.1). */
export function foldHeader(name: string, value: string): string {
  const words = value.split(' ');
  const lines: string[] = [];
  let line = `${name}:`;
  for (const w of words) {
    if (line.length + 1 + w.length > 78 && line.trim().length > name.length + 1) {
      lines.push(line);
      line = '\t' + w;
    } else line += ' ' + w;
  }
  lines.push(line);
  return lines.join('\r\n') + '\r\n';
}

function sanitize(s: string): string {
  // Options come from the message and DNS: keep header-safe printable ASCII only.
  return s.replace(/[^\x21-\x7e ]/g, '?').replace(/[[\],;]/g, '_').slice(0, 100);
}
