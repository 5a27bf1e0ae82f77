// Per-message values shared by the content checks through MessageView.memo, so checks that run
// concurrently in the data phase parse the MIME once and meta rules can see the other content symbols.
import type { MimeLimits, ParsedMail } from '../mime/parse.ts';
import { parseMail } from '../mime/parse.ts';
import type { MessageView, SymbolHit } from './types.ts';

export const MEMO_MIME = 'content:mime';
export const MEMO_BAYES = 'content:bayes-hits';
export const MEMO_LOOKALIKE = 'content:lookalike-hits';
export const MEMO_RULES = 'content:rule-hits';

export function parsedMail(view: MessageView, limits: MimeLimits): ParsedMail {
  return view.memo(MEMO_MIME, () => parseMail(view.raw, limits));
}

/** A memoised async result of one content check. */
export function memoHits(view: MessageView, key: string, compute: () => Promise<SymbolHit[]> | SymbolHit[]): Promise<SymbolHit[]> {
  return view.memo(key, () => Promise.resolve().then(compute));
}
