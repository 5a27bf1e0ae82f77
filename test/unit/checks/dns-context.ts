// Test helper for the DNS check tests: a CheckContext with sensible defaults and captured headers.
import type { CheckContext, Envelope, MessageView, Phase, SessionInfo } from '../../../src/checks/types.ts';
import { silentLogger } from '../../../src/util/logger.ts';

export interface TestContext extends CheckContext {
  headers: Array<[string, string]>;
}

export function makeContext(
  phase: Phase,
  session: Partial<SessionInfo> = {},
  envelope: Partial<Envelope> = {},
  extra: { raw?: Buffer; signal?: AbortSignal; results?: Map<string, unknown>; now?: number } = {},
): TestContext {
  const headers: Array<[string, string]> = [];
  const raw = extra.raw;
  const message: MessageView | undefined = raw
    ? {
        raw,
        headers: [],
        header: () => undefined,
        memo: <T>(_k: string, compute: () => T): T => compute(),
      }
    : undefined;
  return {
    phase,
    session: { id: 's1', clientIp: '192.0.2.10', clientPort: 40000, secure: false, trusted: false, submission: false, localIp: '127.0.0.1', localPort: 25, helo: 'mail.sender.test', ...session },
    envelope: { mailFrom: 'alice@sender.test', rcptTo: ['bob@rcpt.test'], smtputf8: false, body8bit: false, ...envelope },
    ...(message ? { message } : {}),
    signal: extra.signal ?? new AbortController().signal,
    now: extra.now ?? Date.now(),
    log: silentLogger,
    addHeader: (name, value) => void headers.push([name, value]),
    results: extra.results ?? new Map(),
    hitsSoFar: [],
    headers,
  };
}
