// Per-key promise-chain mutex: serialises mutations of one Maildir folder within the process.

export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs fn after every earlier holder of key has finished; never lets one failure block the next. */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}
