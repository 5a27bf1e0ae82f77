// Tests: waits (up to 10 s) for a running gateway's log line that a predicate picks among the lines logged since
// a mark, e.g. the queue's "message done" of a queued id; fails naming what it waited for.
import type { RunningGateway } from './gateway.ts';

type LogLine = Record<string, unknown>;

export async function awaitLog(gw: Pick<RunningGateway, 'logs'>, since: number, pick: (line: LogLine) => boolean, what: string): Promise<LogLine> {
  for (let i = 0; i < 400; i++) {
    const line = gw.logs.slice(since).find(pick);
    if (line) return line;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`no log line: ${what}`);
}

/** The queue's "message done" line of a queued message. */
export const messageDone = (gw: Pick<RunningGateway, 'logs'>, since: number, queueId: string): Promise<LogLine> =>
  awaitLog(gw, since, (l) => l.id === queueId && l.msg === 'message done', `message ${queueId} done`);
