// TELL (spamc -L spam|ham|forget, spamc -C report|revoke): learning through the learner the Junk folder and a
// quarantine release use (Bayes, and the fuzzy store and sender reputation for reports), in the running
// process, whose store it holds under the learn lock (bayes/learn.lock) — as `spamgate train` takes that lock
// when it learns into the store file. spamd/PROTOCOL: "TELL accepts three new headers, Message-class, Set and
// Remove and will return two possible headers, DidSet and DidRemove which indicate which action was taken."
// Only the local database is spamgate's: "remote" (Razor, Pyzor reports) is accepted and not acted on.
import type { Learner, MessageClass } from '../bayes/learner.ts';
import { badHeader, EX, type ErrorReply } from './protocol.ts';

export interface TellRequest {
  cls?: MessageClass;
  set: boolean;
  remove: boolean;
}

/** Reads Message-class, Set and Remove; an error for what spamd refuses too. */
export function readTell(headers: ReadonlyMap<string, string>): TellRequest | ErrorReply {
  const list = (name: string): string[] | undefined => headers.get(name)?.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  const set = list('set');
  const remove = list('remove');
  for (const v of [...(set ?? []), ...(remove ?? [])]) if (v !== 'local' && v !== 'remote') return badHeader(`(Set/Remove: unknown database ${v})`);
  if (!set && !remove) return badHeader('(TELL without Set or Remove)');
  const raw = headers.get('message-class')?.toLowerCase();
  if (raw !== undefined && raw !== 'spam' && raw !== 'ham') return badHeader('(Message-class must be spam or ham)');
  if (set && raw === undefined) return badHeader('(Set needs a Message-class)');
  return { ...(raw !== undefined ? { cls: raw } : {}), set: set?.includes('local') ?? false, remove: remove?.includes('local') ?? false };
}

/** The response headers: DidSet / DidRemove: local when the store changed. */
export async function tell(learner: Learner, message: Buffer, req: TellRequest): Promise<{ headers: string[]; outcome: string }> {
  const headers: string[] = [];
  const outcomes: string[] = [];
  if (req.remove) {
    const r = await learner.forget(message, 'manual');
    outcomes.push(`remove:${r}`);
    if (r === 'forgotten') headers.push('DidRemove: local');
  }
  if (req.set && req.cls) {
    const r = await learner.learn(message, req.cls, 'manual');
    outcomes.push(`${req.cls}:${r}`);
    if (r === 'learned' || r === 'relearned') headers.push('DidSet: local');
  }
  return { headers, outcome: outcomes.join(' ') || 'nothing' };
}

export const TELL_DISABLED: ErrorReply = { code: EX.UNAVAILABLE, text: 'Service Unavailable: TELL commands are not enabled (spamd.allow_tell)' };
export const NO_LEARNER: ErrorReply = { code: EX.UNAVAILABLE, text: 'Service Unavailable: nothing to learn into (bayes and fuzzy are off)' };
