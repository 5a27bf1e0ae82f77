// The message PROCESS and HEADERS return: the client's own bytes and line endings (LF from procmail stays LF),
// an mbox "From " line kept first, forged spamgate and SpamAssassin result fields removed, the Subject tagged
// when the verdict tags it, and at the end of the header block (below the trace fields, RFC 5322 §3.6.7)
// X-Spamgate-Result, the checks' fields, and SpamAssassin's X-Spam-Flag (spam only), X-Spam-Level and
// X-Spam-Status, so Exim, procmail and maildrop recipes written for SpamAssassin work unchanged.
import { formatResultHeader } from '../scoring/explain.ts';
import type { Action } from '../scoring/scorer.ts';
import { isForgedOwnHeader } from '../smtp/data-judge.ts';
import { headerEnd } from '../smtp/message-view.ts';
import { formatScore } from './protocol.ts';
import type { Scan } from './judge.ts';

type Scanned = Extract<Scan, { kind: 'scanned' }>;

/** SpamAssassin's fields: a message scanned before (or a forged verdict) loses them. */
const SA_FIELDS: ReadonlySet<string> = new Set(['x-spam-flag', 'x-spam-status', 'x-spam-level', 'x-spam-checker-version', 'x-spam-report']);

/** The actions that tag the Subject, as the gateway does (rewrite_subject and above). */
const TAGGING: ReadonlySet<Action> = new Set<Action>(['rewrite_subject', 'junk', 'quarantine', 'reject']);

/** An mbox "From " line at the start of the message (procmail passes one): its length with its line break, else 0. */
export function mboxLineLength(raw: Buffer): number {
  if (raw.length < 5 || raw.toString('latin1', 0, 5) !== 'From ') return 0;
  const nl = raw.indexOf(0x0a);
  return nl < 0 ? 0 : nl + 1;
}

/** Folds a value at spaces, and after the commas of a long list, at 78 columns; lines joined by eol and a tab. */
export function fold(name: string, value: string, eol: string): string {
  const words = value.split(' ').flatMap((w, i) => {
    const parts = w.length > 60 ? w.split(/(?<=,)/) : [w];
    return parts.map((p, j) => ({ text: p, space: j === 0 && i > 0 }));
  });
  let out = `${name}:`;
  let width = out.length;
  for (const w of words) {
    const sep = w.space || width === name.length + 1 ? ' ' : '';
    if (width + sep.length + w.text.length > 78 && width > name.length + 1) {
      out += `${eol}\t${w.text}`;
      width = 8 + w.text.length;
    } else {
      out += sep + w.text;
      width += sep.length + w.text.length;
    }
  }
  return out + eol;
}

export interface ProcessOptions {
  hostname: string;
}

/** The processed message: header block (ending with its empty line) and body, apart. */
export function processMessage(original: Buffer, scan: Scanned, opts: ProcessOptions): { head: Buffer; body: Buffer } {
  const fromLine = original.subarray(0, mboxLineLength(original));
  const raw = original.subarray(fromLine.length);
  const end = headerEnd(raw);
  const headText = raw.toString('latin1', 0, end);
  const eol = /\r\n/.test(headText) || (headText === '' && /\r\n/.test(raw.toString('latin1', 0, 200))) ? '\r\n' : '\n';
  const lines = headText.replace(/\r?\n\r?\n$/, '').split(/\r?\n/).filter((l, i, all) => !(l === '' && i === all.length - 1));
  // whole fields (with their continuation lines), as written
  // the value starts after the colon, not after the name: RFC 5322 §4.5 (obsolete syntax) allows blanks before the
  // colon ("Subject : x"), and the gateway's header parser reads such a field by its trimmed name
  const fields: { name: string; colon: number; lines: string[] }[] = [];
  for (const line of lines) {
    const last = fields[fields.length - 1];
    if ((line.startsWith(' ') || line.startsWith('\t')) && last) last.lines.push(line);
    else {
      const colon = line.indexOf(':');
      fields.push({ name: line.slice(0, Math.max(0, colon)).trim(), colon, lines: [line] });
    }
  }
  const { verdict } = scan;
  const tag = TAGGING.has(verdict.action);
  let subjects = 0;
  const kept: string[] = [];
  for (const f of fields) {
    const lower = f.name.toLowerCase();
    const value = f.lines.join(' ').slice(f.colon + 1).trim();
    if (SA_FIELDS.has(lower) || isForgedOwnHeader(lower, value, opts.hostname)) continue;
    if (lower === 'subject') {
      subjects++;
      if (tag && !value.startsWith(scan.subjectPrefix)) {
        const first = f.lines[0] ?? '';
        f.lines[0] = `${first.slice(0, f.colon + 1)} ${scan.subjectPrefix}${value ? ' ' : ''}${first.slice(f.colon + 1).replace(/^[ \t]*/, '')}`;
      }
    }
    kept.push(f.lines.join(eol) + eol);
  }
  if (tag && subjects === 0) kept.push(`Subject: ${scan.subjectPrefix}${eol}`);
  kept.push(fold('X-Spamgate-Result', formatResultHeader(verdict, scan.sessionId), eol));
  for (const [name, value] of scan.added) {
    // a value its writer folded (Authentication-Results) keeps its folding, in this message's line endings
    kept.push(/[\r\n]/.test(value) ? `${name}: ${value.replace(/\r?\n/g, eol)}${eol}` : fold(name, value, eol));
  }
  if (scan.spam) kept.push(`X-Spam-Flag: YES${eol}`);
  const stars = Math.min(50, Math.max(0, Math.floor(verdict.score)));
  if (stars > 0) kept.push(`X-Spam-Level: ${'*'.repeat(stars)}${eol}`);
  const tests = verdict.symbols.map((s) => s.symbol).join(',') || 'none';
  kept.push(fold('X-Spam-Status', `${scan.spam ? 'Yes' : 'No'}, score=${formatScore(verdict.score)} required=${formatScore(scan.threshold)} tests=${tests}`, eol));
  const head = Buffer.concat([fromLine, Buffer.from(kept.join('') + eol, 'latin1')]);
  return { head, body: raw.subarray(end) };
}
