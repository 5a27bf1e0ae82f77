// Saving a store held in memory a while after it changed, so that a burst of changes is one write of its file;
// saves run one after another, a failed one is reported (the store stays dirty and is saved again later),
// and stop() cancels the pending one and waits for one under way (the caller then saves a last time).
export interface DelayedSave {
  /** Schedules a save `delayMs` from now unless one is already scheduled. */
  soon(): void;
  /** Cancels a scheduled save and waits for one running. */
  stop(): Promise<void>;
}

/** `delayMs` undefined: never scheduled (a CLI batch saves at close only). */
export function delayedSave(save: () => Promise<void>, delayMs: number | undefined, onError: (err: unknown) => void): DelayedSave {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  return {
    soon() {
      if (delayMs === undefined || timer) return;
      timer = setTimeout(() => {
        timer = undefined;
        running = running.then(save).catch(onError);
      }, delayMs);
      timer.unref();
    },
    async stop() {
      clearTimeout(timer);
      timer = undefined;
      await running;
    },
  };
}
