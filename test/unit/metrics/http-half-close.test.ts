// The HTTP listener answers a client that half-closes once its request is sent (`nc -N`, a shell probe), also
// when the answer is made asynchronously: node:http alone would end the connection at the client's FIN, unanswered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { createHttpServer } from '../../../src/metrics/http-server.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { rawExchange } from '../../helpers/raw-exchange.ts';

test('a request followed by the client\'s FIN gets its answer, though readiness and health answer later', async (t) => {
  const later = <T>(v: T): Promise<T> => new Promise((resolve) => setTimeout(() => resolve(v), 50));
  const server = createHttpServer({ registry: new Registry(), log: silentLogger, ready: () => later({ ready: true, reasons: [] }), health: () => later({ ok: true }) });
  const { port } = await server.listen(0, '127.0.0.1');
  t.after(() => server.close());
  for (const path of ['/readyz', '/healthz']) {
    const answer = await rawExchange(port, [`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`], { end: true });
    assert.match(answer, /^HTTP\/1\.1 200 /, `${path} after a half-close`);
  }
  // and a connection the client keeps open is answered and kept as before (keep-alive), closed by the idle timer
  const metrics = await rawExchange(port, ['GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
  assert.match(metrics, /^HTTP\/1\.1 200 /);
});
