// The Learner over a token store: learn / relearn / forget keyed by message digest, serialised per store.
import { createHash } from 'node:crypto';
import type { Counter } from 'prom-client';
import type { LearnOutcome, LearnSource, Learner, MessageClass } from './learner.ts';
import { withoutFinalLineBreaks } from '../util/trim-end.ts';
import type { TokenStore } from './token-store.ts';

export interface LearnerDeps {
  store: TokenStore;
  /** Raw message → its distinct tokens (same tokenizer as classification). */
  tokenize: (raw: Buffer) => string[];
  learned?: Counter<'class' | 'source'>;
}

/**
 * Header fields added in transit, by spamgate or by other hops: left out of a message's identity, so that
 * the copy autolearned at DATA and the copy delivered to a mailbox (Return-Path, Delivered-To, our
 * Received, X-Spamgate-Result, Authentication-Results, Received-SPF on top) and later moved over IMAP
 * count as one message.
 */
const TRACE_FIELD = /^(?:received|return-path|delivered-to|x-spamgate[^:]*|authentication-results|received-spf|arc-[a-z-]+|x-original-to)$/i;

/**
 * Digest of a message for "learned once" bookkeeping: SHA-256 of its header fields other than trace fields
 * (TRACE_FIELD), names lower-cased and lines unfolded, and of its body, line ends as LF, without the line
 * breaks at its end (an mbox keeps a blank line after each message, and a delivery adds a final line
 * break to a message without one: the same message from a file, an mbox or a mailbox is one).
 */
export function messageDigest(raw: Buffer): string {
  return digestOf(raw, true);
}

/** messageDigest as spamgate computed it before the end of the body was evened out: still looked up. */
export function messageDigestKeepingEnd(raw: Buffer): string {
  return digestOf(raw, false);
}

function digestOf(raw: Buffer, trimEnd: boolean): string {
  const text = raw.toString('latin1');
  const m = /\r?\n\r?\n/.exec(text);
  const headEnd = m ? m.index : text.length;
  const h = createHash('sha256');
  const lines = text.slice(0, headEnd).split(/\r?\n/);
  let keep = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (i === 0 && line.startsWith('From ')) continue; // mbox separator
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (keep) h.update(' ' + line.trim(), 'latin1');
      continue;
    }
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon).trim() : '';
    keep = name !== '' && !TRACE_FIELD.test(name);
    if (keep) h.update(`\n${name.toLowerCase()}:${line.slice(colon + 1).trim()}`, 'latin1');
  }
  h.update('\n\n');
  const body = text.slice(m ? headEnd + m[0].length : headEnd).replace(/\r\n/g, '\n');
  h.update(trimEnd ? withoutFinalLineBreaks(body) : body, 'latin1');
  return h.digest('hex').slice(0, 32);
}

/**
 * The digest spamgate used before trace fields were left out (the raw bytes without X-Spamgate-* fields):
 * still looked up, so that messages learned by an earlier version are recognised; also what the shipped
 * model's build dedups by (byte-identical files).
 */
export function rawDigest(raw: Buffer): string {
  const text = raw.toString('latin1');
  const m = /\r?\n\r?\n/.exec(text);
  const headEnd = m ? m.index : text.length;
  const head = text.slice(0, headEnd).replace(/^X-Spamgate[^:\r\n]*:.*(?:\r?\n[ \t].*)*(?:\r?\n|$)/gim, '');
  return createHash('sha256').update(head, 'latin1').update(text.slice(headEnd), 'latin1').digest('hex').slice(0, 32);
}

/** The header field at `pos`: its lower-cased name and where the next field starts (continuation lines included). */
function fieldAt(text: string, pos: number, headEnd: number): { name: string; next: number } | undefined {
  if (pos >= headEnd) return undefined;
  const colon = text.indexOf(':', pos);
  let eol = text.indexOf('\n', pos);
  if (colon < 0 || colon >= headEnd || (eol >= 0 && colon > eol)) return undefined;
  while (eol >= 0 && eol + 1 < headEnd && (text.charCodeAt(eol + 1) === 32 || text.charCodeAt(eol + 1) === 9)) eol = text.indexOf('\n', eol + 1);
  return { name: text.slice(pos, colon).trim().toLowerCase(), next: eol < 0 ? text.length : eol + 1 };
}

/**
 * The message as the gateway judged it at DATA: without the fields a local delivery puts on top
 * (Return-Path, Delivered-To) and spamgate's own trace block (X-Spamgate-Result, the headers checks add,
 * then our Received). A copy learned from a mailbox then gives the tokens the autolearned copy gave, so
 * relearning or forgetting it subtracts exactly what was added. Other messages are returned unchanged.
 */
export function withoutOwnTrace(raw: Buffer): Buffer {
  const text = raw.toString('latin1', 0, Math.min(raw.length, 64 * 1024));
  const blank = /\r?\n\r?\n/.exec(text);
  const headEnd = blank ? blank.index : text.length;
  let f = fieldAt(text, 0, headEnd);
  while (f && (f.name === 'return-path' || f.name === 'delivered-to')) f = fieldAt(text, f.next, headEnd);
  if (!f || f.name !== 'x-spamgate-result') return raw;
  for (let n = 0; n < 20 && f; n++) {
    if (f.name === 'received') return raw.subarray(f.next);
    f = fieldAt(text, f.next, headEnd);
  }
  return raw;
}

export class BayesLearner implements Learner {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: LearnerDeps) {}

  learn(raw: Buffer, cls: MessageClass, source: LearnSource): Promise<LearnOutcome> {
    return this.serial(async () => {
      const digest = messageDigest(raw);
      const known = await this.learnedAs(raw, digest);
      const prev = known?.cls;
      if (prev === cls) return 'already';
      const tokens = this.deps.tokenize(withoutOwnTrace(raw));
      if (known !== undefined) await this.deps.store.update({ tokens, cls: known.cls, delta: -1, digest: known.digest });
      await this.deps.store.update({ tokens, cls, delta: 1, digest });
      this.deps.learned?.inc({ class: cls, source });
      return prev === undefined ? 'learned' : 'relearned';
    });
  }

  async forget(raw: Buffer, _source: LearnSource): Promise<LearnOutcome> {
    return (await this.forgetClass(raw)) === undefined ? 'unknown' : 'forgotten';
  }

  /** Unlearns a message: the class it had been learned as, undefined when it was not learned. */
  forgetClass(raw: Buffer): Promise<MessageClass | undefined> {
    return this.serial(async () => {
      const known = await this.learnedAs(raw, messageDigest(raw));
      if (known === undefined) return undefined;
      await this.deps.store.update({ tokens: this.deps.tokenize(withoutOwnTrace(raw)), cls: known.cls, delta: -1, digest: known.digest });
      return known.cls;
    });
  }

  /** The class a message was learned as, and under which digest (the current one, else an earlier one). */
  private async learnedAs(raw: Buffer, digest: string): Promise<{ cls: MessageClass; digest: string } | undefined> {
    const tried = new Set<string>();
    for (const d of [digest, messageDigestKeepingEnd(raw), rawDigest(raw)]) {
      if (tried.has(d)) continue;
      tried.add(d);
      const cls = await this.deps.store.learnedAs(d);
      if (cls !== undefined) return { cls, digest: d };
    }
    return undefined;
  }

  /** Runs store mutations one at a time so a learn and a forget of one message never interleave. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }
}
