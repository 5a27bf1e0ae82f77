// A pool of next-hop connections per destination: bounded per key, reused for several messages,
// closed after an idle timeout or a number of messages.

export interface PooledConnection {
  readonly usable: boolean;
  readonly messagesSent: number;
  quit(): Promise<void>;
  destroy(): void;
}

export interface PoolOptions {
  maxPerKey: number;
  idleTimeout: number;
  maxMessagesPerConnection: number;
}

interface KeyState<C> {
  idle: { conn: C; timer: NodeJS.Timeout }[];
  count: number;
  waiters: ((conn: C | undefined) => void)[];
}

export class ConnectionPool<C extends PooledConnection> {
  private readonly keys = new Map<string, KeyState<C>>();
  private closed = false;

  constructor(private readonly opts: PoolOptions) {}

  /** Runs fn on a connection for key; a connection fn threw on is discarded, never reused. */
  async use<T>(key: string, create: () => Promise<C>, fn: (conn: C, reused: boolean) => Promise<T>): Promise<T> {
    const { conn, reused } = await this.acquire(key, create);
    let ok = false;
    try {
      const result = await fn(conn, reused);
      ok = true;
      return result;
    } finally {
      this.release(key, conn, ok);
    }
  }

  /** Open connections (busy and idle) for key. */
  size(key: string): number {
    return this.keys.get(key)?.count ?? 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    const quits: Promise<void>[] = [];
    for (const s of this.keys.values()) {
      for (const { conn, timer } of s.idle.splice(0)) {
        clearTimeout(timer);
        s.count--;
        quits.push(conn.quit());
      }
      for (const w of s.waiters.splice(0)) w(undefined);
    }
    await Promise.allSettled(quits);
  }

  private state(key: string): KeyState<C> {
    let s = this.keys.get(key);
    if (!s) {
      s = { idle: [], count: 0, waiters: [] };
      this.keys.set(key, s);
    }
    return s;
  }

  private async acquire(key: string, create: () => Promise<C>): Promise<{ conn: C; reused: boolean }> {
    const s = this.state(key);
    // Each pass either returns, drops one dead idle connection, or waits for a release.
    for (let pass = 0; pass < 10_000; pass++) {
      if (this.closed) throw new Error('connection pool closed');
      const idle = s.idle.pop();
      if (idle) {
        clearTimeout(idle.timer);
        if (idle.conn.usable) return { conn: idle.conn, reused: true };
        s.count--;
        idle.conn.destroy();
        continue;
      }
      if (s.count < this.opts.maxPerKey) {
        s.count++;
        try {
          return { conn: await create(), reused: false };
        } catch (err) {
          s.count--;
          s.waiters.shift()?.(undefined);
          throw err;
        }
      }
      const handed = await new Promise<C | undefined>((resolve) => s.waiters.push(resolve));
      if (handed) return { conn: handed, reused: true };
    }
    throw new Error('connection pool: no connection after many tries');
  }

  private release(key: string, conn: C, ok: boolean): void {
    const s = this.state(key);
    if (ok && !this.closed && conn.usable && conn.messagesSent < this.opts.maxMessagesPerConnection) {
      const waiter = s.waiters.shift();
      if (waiter) return waiter(conn);
      const timer = setTimeout(() => {
        const i = s.idle.findIndex((e) => e.conn === conn);
        if (i < 0) return;
        s.idle.splice(i, 1);
        s.count--;
        void conn.quit();
      }, this.opts.idleTimeout);
      timer.unref();
      s.idle.push({ conn, timer });
      return;
    }
    s.count--;
    if (ok && conn.usable) void conn.quit();
    else conn.destroy();
    s.waiters.shift()?.(undefined);
  }
}
