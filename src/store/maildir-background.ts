// Background work of the Maildir store, off the command path: the idle-time new/ → cur/ mover and the one forced
// re-scan that confirms a racy directory stamp, each under the folder's mutex like any other mutation; and the
// once-per-folder sweep of stale tmp/ files, which needs no lock (nothing indexes tmp/).
import type { MaildirFolder } from './maildir-folder.ts';
import { sweepStaleTmp } from './maildir-tmp-sweep.ts';

/** How a step enters the folder lock: 'background' does not count as client use; 'verify' forces a re-scan. */
export type LockedRun = (user: string, name: string, fn: (f: MaildirFolder) => Promise<void>, mode: 'background' | 'verify') => Promise<void>;

/**
 * Background steps wait for this long without client use of the folder: a client's commands come back to back, and
 * a step under the folder lock (or a re-scan's CPU) would otherwise land in the middle of them.
 */
const IDLE_MS = 1000;
const MOVE_BATCH = 256;
const VERIFY_AFTER_MS = 1000;
/** A racy stamp is confirmed within this long even while clients keep the folder busy. */
const VERIFY_MAX_WAIT_MS = 10_000;

export class BackgroundJobs {
  private readonly running = new Set<Promise<void>>();
  private settling = false;
  /** Sleeping jobs; settle() wakes them (their timers are unref'd and would not keep the process alive). */
  private readonly sleepers = new Set<() => void>();

  constructor(
    private readonly run: LockedRun,
    /** False once the folder object was dropped (deleted, renamed): its jobs stop. */
    private readonly live: (f: MaildirFolder) => boolean,
  ) {}

  /** One forced re-scan a second after a racy stamp was trusted; what it finds reaches watchers through the store. */
  verify(user: string, name: string, f: MaildirFolder): void {
    if (f.verifying || f.moving) return; // a running mover asks again when it is done
    f.verifying = true;
    this.track(async () => {
      try {
        // Once the stamp is out of its racy window, a second has passed and the folder is quiet (unless settling,
        // or clients have kept it busy for long): one forced re-scan.
        let since = Date.now();
        const started = since;
        for (let i = 0; i < 50 && this.live(f) && f.needsVerify; i++) {
          const now = Date.now();
          const quiet = this.settling || now - started >= VERIFY_MAX_WAIT_MS ? 0 : f.lastUse + IDLE_MS - now;
          const wait = Math.max(f.racyUntil + 5 - now, this.settling ? 0 : since + VERIFY_AFTER_MS - now, quiet);
          if (wait > 0) await this.pause(wait);
          else {
            await this.run(user, name, async () => undefined, 'verify');
            since = Date.now(); // at most one re-scan a second while the folder keeps changing
          }
        }
      } finally {
        f.verifying = false;
      }
    });
  }

  /** Moves claimed messages from new/ to cur/ in batches while no client uses the folder (at once when settling). */
  moves(user: string, name: string, f: MaildirFolder): void {
    if (f.moving || f.toMove.length === 0) return;
    f.moving = true;
    this.track(async () => {
      try {
        while (f.toMove.length > 0 && this.live(f)) {
          const busy = f.lastUse + IDLE_MS - Date.now();
          if (!this.settling && busy > 0) {
            await this.pause(busy);
            continue;
          }
          const batch = f.toMove.splice(0, MOVE_BATCH);
          await this.run(user, name, async (g) => (g === f ? f.moveToCur(batch) : undefined), 'background');
        }
      } finally {
        f.moving = false;
        if (f.needsVerify) this.verify(user, name, f);
      }
    });
  }

  /** Removes what interrupted deliveries left in the folder's tmp/ long ago (see sweepStaleTmp). */
  sweepTmp(path: string): void {
    this.track(async () => {
      await sweepStaleTmp(path);
    });
  }

  /** Runs everything queued now and waits for it. */
  async settle(): Promise<void> {
    this.settling = true;
    try {
      for (let i = 0; i < 100 && this.running.size > 0; i++) {
        for (const wake of [...this.sleepers]) wake();
        await Promise.all([...this.running]);
      }
    } finally {
      this.settling = false;
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      if (!this.settling) timer.unref(); // settle() is awaited: its waits keep the process alive
      this.sleepers.add(wake);
    });
  }

  private track(job: () => Promise<void>): void {
    const p: Promise<void> = job()
      .catch(() => undefined) // a folder removed meanwhile; the next client sync sees the truth
      .finally(() => this.running.delete(p));
    this.running.add(p);
  }
}
