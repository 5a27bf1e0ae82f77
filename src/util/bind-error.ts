// A listener that cannot bind names its config key and the reason in words a mail administrator acts on:
// "imap.listen: cannot listen on 127.0.0.1:1143: the address is in use (…)" instead of node's bare "listen EADDRINUSE".

const REASONS: Record<string, string> = {
  EADDRINUSE: 'the address is in use (another process listens there: a second spamgate, or the mail server it stands in front of?)',
  EACCES: 'permission denied (ports under 1024 need root or CAP_NET_BIND_SERVICE; a unix socket needs a writable directory)',
  EADDRNOTAVAIL: 'no network interface of this host has that address',
};

/** The bind error of the listener at `key` as one line naming it, its address and the reason. */
export function describeBindError(key: string, err: unknown): string {
  if (!(err instanceof Error)) return `${key}: cannot listen: ${String(err)}`;
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  // an error spamgate made itself (a stale unix socket that is no socket) already names its key
  if (e.code === undefined && e.message.startsWith(`${key}:`)) return e.message;
  const where = e.address === undefined ? '' : ` on ${e.port === undefined || e.port <= 0 ? e.address : e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`}`;
  const reason = (e.code !== undefined ? REASONS[e.code] : undefined) ?? e.message;
  return `${key}: cannot listen${where}: ${reason}${e.code !== undefined && REASONS[e.code] ? ` (${e.code})` : ''}`;
}

/** `binding`, with a failure re-thrown as describeBindError says. */
export async function bindAs<T>(key: string, binding: Promise<T>): Promise<T> {
  try {
    return await binding;
  } catch (err) {
    throw new Error(describeBindError(key, err));
  }
}
