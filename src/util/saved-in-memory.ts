// A store held in memory and saved whole to one file: the "changed since the last save" mark and the atomic
// save shared by the in-process fuzzy and reputation stores. A failed write leaves the mark set, so the next
// save (or close) tries again; a read-only store (a CLI look-up) never writes.
import { writeFileAtomic } from './atomic-file.ts';

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
}
