// What the digests have covered, in <data_dir>/quarantine-digest.json (written atomically: a crash leaves the old
// or the new file): when the last round ran, per recipient the time up to which their quarantined messages were
// in a digest, and up to when the recipients that get none were counted. Saved after digests are queued, so a
// crash in between sends a digest again (at most one duplicate), never skips one.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../util/atomic-file.ts';

export const DIGEST_STATE_FILE = 'quarantine-digest.json';

export interface DigestState {
  /** When the last round ran (undefined: never; the first start sets it). */
  lastRound?: number;
  /** Recipient (lower case) → messages quarantined before this time (ms) were in a digest to them. */
  covered: Record<string, number>;
  /** Messages quarantined before this time (ms) were counted for their recipients that get no digest (not_local). */
  notLocalBefore?: number;
}

const stateSchema = z.strictObject({
  version: z.literal(1),
  lastRound: z.number().optional(),
  covered: z.record(z.string(), z.number()),
  notLocalBefore: z.number().optional(),
});

export const digestStateFile = (dataDir: string): string => path.join(dataDir, DIGEST_STATE_FILE);

/** The saved state, empty when there is none; throws naming the file when it is damaged (nothing is resent blindly). */
export async function loadDigestState(file: string): Promise<DigestState> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { covered: {} };
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: damaged digest state (${(err as Error).message}); move it aside to start over (every held message is then listed again)`);
  }
  const r = stateSchema.safeParse(parsed);
  if (!r.success) throw new Error(`${file}: damaged digest state (${r.error.issues[0]?.path.join('.') ?? ''} ${r.error.issues[0]?.message ?? ''})`);
  const { lastRound, notLocalBefore } = r.data;
  return { ...(lastRound !== undefined ? { lastRound } : {}), covered: { ...r.data.covered }, ...(notLocalBefore !== undefined ? { notLocalBefore } : {}) };
}

/** Writes the state atomically; entries older than `forgetBefore` go (no message that old is still held). */
export async function saveDigestState(file: string, state: DigestState, forgetBefore: number, fsync = true): Promise<void> {
  for (const [rcpt, t] of Object.entries(state.covered)) if (t < forgetBefore) delete state.covered[rcpt];
  const data = { version: 1, ...(state.lastRound !== undefined ? { lastRound: state.lastRound } : {}), covered: state.covered, ...(state.notLocalBefore !== undefined ? { notLocalBefore: state.notLocalBefore } : {}) };
  await writeFileAtomic(file, JSON.stringify(data) + '\n', { mode: 0o600, fsync });
}
