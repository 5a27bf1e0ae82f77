// Binding and closing of a service listener given as "host:port" or "unix:/path" (the milter, spamd and rspamd
// protocol listeners): a socket file left by a process that is gone is replaced, anything else at the path is
// refused, the open connections are ended at close and the socket file is removed.
import { lstat, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server, type ServerOpts, type Socket } from 'node:net';
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

/**
 * A service on one listener: its server, the connections it holds (each a slot its subclass counts against its
 * max_connections), bound by `bindTo` and ended by `close`. Subclasses take each connection in `accept`.
 */
export abstract class SocketService {
  protected readonly server: Server;
  protected readonly sockets = new Set<Socket>();
  private unixPath: string | undefined;

  protected constructor(serverOpts: ServerOpts, onError: (err: Error) => void) {
    this.server = createServer(serverOpts, (socket) => this.accept(socket));
    this.server.on('error', onError);
  }

  protected abstract accept(socket: Socket): void;

  /** Listens where `listen` says (`key` names the setting in errors); the address (for a unix socket: its path, port 0). */
  protected async bindTo(listen: string, key: string): Promise<AddressInfo> {
    const bound = await listenAt(this.server, listen, key);
    this.unixPath = bound.unixPath;
    return bound.address;
  }

  get connections(): number {
    return this.sockets.size;
  }

  async close(): Promise<void> {
    await closeListener(this.server, this.sockets, this.unixPath);
  }
}
