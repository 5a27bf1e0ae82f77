// Starting a net.Server listening: resolves once it listens, rejects with the bind error (EADDRINUSE, EACCES).
import type { Server } from 'node:net';

export function listenOn(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
