// A store held in memory and saved whole to one file: the "changed since the last save" mark, the atomic
// save and the reading of the saved entries, shared by the in-process fuzzy and reputation stores. A failed write leaves the mark set, so the next
// save (or close) tries again; a read-only store (a CLI look-up) never writes.
import { readFileSync } from 'node:fs';
import { removeDeadTempsSync, writeFileAtomic } from './atomic-file.ts';

export abstract class SavedInMemory {
  /** Set by the store's changes, cleared by a save that wrote them. */
  protected dirty = false;

  constructor(private readonly saveTo: { file?: string; readOnly?: boolean }) {}

  /** The whole store as the file's text. */
  protected abstract serialize(): string;

  async save(): Promise<void> {
    const { file, readOnly } = this.saveTo;
    if (!file || readOnly || !this.dirty) return;
    this.dirty = false;
    try {
      await writeFileAtomic(file, this.serialize());
    } catch (err) {
      this.dirty = true;
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.save();
  }

  /**
   * The entries saved in `file` ({ version, entries: [...] }), undefined when there is no file yet. A file that
   * is not such a store is refused, naming it, never emptied: the next save would lose what it holds. The temp
   * file of a save cut short (killed before its rename) is removed first, unless read-only.
   */
  protected readSavedEntries(file: string, what: string): unknown[] | undefined {
    if (!this.saveTo.readOnly) removeDeadTempsSync(file);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      throw new Error(`${file}: not a ${what} store (${(err as Error).message}); move it aside to start empty`);
    }
    const entries = typeof data === 'object' && data !== null && 'entries' in data ? data.entries : undefined;
    if (!Array.isArray(entries)) throw new Error(`${file}: not a ${what} store (no entries); move it aside to start empty`);
    return entries as unknown[];
  }
}
