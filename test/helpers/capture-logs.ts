// Tests: a spamgate logger whose JSON lines are kept, in order, for assertions on what was logged.
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/util/logger.ts';

export type LogLine = Record<string, unknown>;

export function capturingLogger(level: Parameters<typeof createLogger>[0] = 'debug'): { log: Logger; logs: LogLine[] } {
  const logs: LogLine[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line) as LogLine);
      cb();
    },
  });
  return { log: createLogger(level, out), logs };
}
