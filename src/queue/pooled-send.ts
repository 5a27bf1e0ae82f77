// One transaction on a pooled next-hop connection, retried once on a fresh connection when a
// reused one turns out to have been closed by the peer while idle (before any of the message went out).
import { NextHopConnectionError, type NextHopClient, type TransactionResult } from '../smtp/next-hop-client.ts';
import type { ConnectionPool } from './connection-pool.ts';
import type { ClientOrigin } from '../smtp/next-hop-xforward.ts';
import type { DsnParameters } from './types.ts';

export async function sendPooled(
  pool: ConnectionPool<NextHopClient>,
  key: string,
  create: () => Promise<NextHopClient>,
  from: string,
  rcptTo: string[],
  message: Buffer,
  dsn?: DsnParameters,
  origin?: ClientOrigin,
): Promise<TransactionResult> {
  // Bounded: at most one retry, and only when a reused connection broke without a reply.
  for (let attempt = 0; ; attempt++) {
    let stale = false;
    try {
      return await pool.use(key, create, async (conn, reused) => {
        try {
          return await conn.send(from, rcptTo, message, dsn, origin);
        } catch (err) {
          // a break after the body was written is not an idle close: the server may have the message
          stale = reused && !conn.bodyWritten;
          if (err instanceof NextHopConnectionError && conn.bodyWritten) err.afterBody = true;
          throw err;
        }
      });
    } catch (err) {
      if (!(err instanceof NextHopConnectionError) || !stale || attempt >= 1 || err.reply) throw err;
    }
  }
}
