// Runs an async function over a list with at most `limit` calls in flight (one message to many
// domains or mailboxes must not open a connection or file per recipient all at once).

/** Settles every item; fn is expected to record its own failures (a rejection is ignored here). */
export async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    // Bounded: each pass takes one item off the list.
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item).catch(() => undefined);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}
