// Benchmark sink, run as its own process: a minimal SMTP server that accepts and counts messages.
// Prints "listening PORT" once ready; "count" on stdin answers with the number received.
import { GatewayServer } from '../../../src/smtp/gateway-connection.ts';
import { CidrSet } from '../../../src/util/cidr.ts';

let received = 0;
// spamgate's smtp-server subclass: greets at once (stock smtp-server waits 100 ms before its 220).
const server = new GatewayServer({
  xclientFrom: new CidrSet([]),
  maxBadCommands: 100,
  authOptional: true,
  disableReverseLookup: true,
  logger: false,
  size: 50 * 1024 * 1024,
  onData(stream, _session, cb) {
    stream.on('data', () => undefined);
    stream.on('end', () => {
      received++;
      cb();
    });
  },
});
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  const addr = server.server.address();
  process.stdout.write(`listening ${typeof addr === 'object' && addr ? addr.port : 0}\n`);
});
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d: string) => {
  if (d.includes('count')) process.stdout.write(`count ${received}\n`);
});
