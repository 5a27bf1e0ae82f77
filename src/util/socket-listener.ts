// Binding and closing of a service listener given as "host:port" or "unix:/path" (the milter and spamd listeners):
// a socket file left by a process that is gone is replaced, anything else at the path is refused, the open
// connections are ended at close and the socket file is removed.
import { lstat, rm } from 'node:fs/promises';
import type { AddressInfo, Server, Socket } from 'node:net';
import { parseMilterListen } from '../milter/listen-address.ts';

/**
 * A socket file left by a process that is gone would refuse the bind: it is removed. Anything else at the path
 * (a mistyped listen setting naming a file) is not ours to remove: an error naming `key` (e.g. milter.listen).
 */
export async function removeStaleSocket(file: string, key = 'milter.listen'): Promise<void> {
  const there = await lstat(file).catch(() => undefined);
  if (!there) return;
  if (!there.isSocket()) throw new Error(`${key}: ${file} exists and is not a socket`);
  await rm(file, { force: true });
}

/** Binds `server` where `listen` says; the address (for a unix socket: its path, port 0) and the socket file to remove at close. */
export async function listenAt(server: Server, listen: string, key: string): Promise<{ address: AddressInfo; unixPath?: string }> {
  const where = parseMilterListen(listen);
  if ('error' in where) throw new Error(`${key}: ${where.error}`);
  if (where.kind === 'unix') await removeStaleSocket(where.path, key);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const done = (): void => {
      server.off('error', reject);
      resolve();
    };
    if (where.kind === 'unix') server.listen(where.path, done);
    else server.listen(where.port, where.host, done);
  });
  const a = server.address();
  const address = typeof a === 'string' || a === null ? { address: a ?? '', family: 'unix', port: 0 } : a;
  return where.kind === 'unix' ? { address, unixPath: where.path } : { address };
}

/** Stops accepting, ends the open connections and removes the socket file, if any. */
export async function closeListener(server: Server, sockets: ReadonlySet<Socket>, unixPath: string | undefined): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  for (const s of sockets) s.destroy();
  await closed;
  if (unixPath) await rm(unixPath, { force: true });
}
