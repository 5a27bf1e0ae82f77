// Junk-folder learning: messages moved/copied/appended into Junk train spam; moved out of Junk (not to Trash) train ham.
import type { MessageClass } from '../bayes/learner.ts';
import type { Session } from './session.ts';

export const isJunk = (name: string): boolean => name === 'Junk' || name.startsWith('Junk/');
export const isTrash = (name: string): boolean => name === 'Trash' || name.startsWith('Trash/');

/** The class a transfer from → to teaches, if any. Trash and deletion teach nothing. */
export function transferClass(from: string, to: string): MessageClass | undefined {
  if (isJunk(to) && !isJunk(from)) return 'spam';
  if (isJunk(from) && !isJunk(to) && !isTrash(to)) return 'ham';
  return undefined;
}

function enqueue(s: Session, cls: MessageClass, load: () => Promise<Buffer>): void {
  const learner = s.ctx.opts.learner;
  if (!learner) return;
  s.ctx.learnQueue.push(async () => {
    const raw = await load();
    const outcome = await learner.learn(raw, cls, 'junk_folder');
    s.ctx.metrics.junkLearn.inc({ class: cls });
    s.log.info('imap junk learning', { class: cls, outcome });
  });
}

/** COPY, MOVE and COPY+EXPUNGE all come through here with the UIDs the messages got in the target. */
export function learnTransfer(s: Session, from: string, to: string, targetUids: readonly number[]): void {
  const cls = transferClass(from, to);
  if (!cls) return;
  const { store } = s.ctx.opts;
  const user = s.user;
  for (const uid of targetUids) enqueue(s, cls, () => store.read(user, to, uid));
}

/** APPEND into Junk (clients that move by upload) trains spam. */
export function learnAppend(s: Session, mailbox: string, raw: Buffer): void {
  if (isJunk(mailbox)) enqueue(s, 'spam', async () => raw);
}
