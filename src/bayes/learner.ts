// What other components (IMAP Junk moves, autolearn, the CLI) need from the Bayesian filter to teach it.
export type MessageClass = 'spam' | 'ham';
export type LearnSource = 'manual' | 'autolearn' | 'junk_folder';

export type LearnOutcome =
  /** Learned as a new message of this class. */
  | 'learned'
  /** Already learned as this class (keyed by digest): nothing changed. */
  | 'already'
  /** Was learned as the other class: moved to this one. */
  | 'relearned'
  /** forget(): removed; or nothing to remove (learn(): no store took the message). */
  | 'forgotten'
  | 'unknown';

export interface Learner {
  learn(raw: Buffer, cls: MessageClass, source: LearnSource): Promise<LearnOutcome>;
  /** Unlearns a message whatever class it was learned as. */
  forget(raw: Buffer, source: LearnSource): Promise<LearnOutcome>;
}
