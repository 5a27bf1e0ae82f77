// rspamd's legacy RSPAMC/1.x text protocol on the rspamd HTTP listener — what Exim's `spamd_address = … variant=rspamd`
// sends: "CHECK RSPAMC/1.3", header lines (Content-length, Queue-Id, From, Rcpt, Helo, Hostname, IP, User), an
// empty line, the message; answered "RSPAMD/1.3 0 EX_OK", "Metric: default; True|False; score / required /
// reject" (Exim reads it with sscanf "Metric: default; %7s %lf / %lf / %lf"), "Action: …", one "Symbol:" line
// per symbol, and the connection closed. Bounded as the HTTP requests: 16 KiB of headers, Content-length
// required and at most spamd.max_size, the deadline of the connection.
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Scan } from './judge.ts';
import { RSPAMD_ACTION } from './rspamd-response.ts';

/** A request line of the legacy protocol ("CHECK RSPAMC/1.3", "SYMBOLS RSPAMC/1.2"). */
export const LEGACY_LINE = /^(CHECK|SYMBOLS|REPORT|REPORT_IFSPAM|PROCESS) RSPAMC\/1\.\d{1,2}\r?\n/;

const COMMANDS = ['CHECK', 'SYMBOLS', 'REPORT', 'REPORT_IFSPAM', 'PROCESS'] as const;

/**
 * Whether a connection's first bytes are a legacy request line: true, false (HTTP, or anything else), or
 * undefined while they are only the start of one (a request line may come in several packets, byte by byte).
 */
export function sniffLegacy(head: Buffer): boolean | undefined {
  const text = head.toString('latin1', 0, 64);
  if (LEGACY_LINE.test(text)) return true;
  const partial = COMMANDS.some((c) => {
    const prefix = `${c} RSPAMC/1.`;
    return text.length <= prefix.length ? prefix.startsWith(text) : text.startsWith(prefix) && /^\d{1,2}\r?$/.test(text.slice(prefix.length));
  });
  return partial ? undefined : false;
}

const MAX_HEAD = 16 * 1024;

export interface LegacyContext {
  maxSize: number;
  /** Judges a message with these headers (lower-case names, each with its values); throws an Error to refuse. */
  judge(headers: IncomingHttpHeaders, distinct: Record<string, string[]>, raw: Buffer): Promise<{ scan: Extract<Scan, { kind: 'scanned' }>; reject: number }>;
  result(r: 'spam' | 'ham' | 'too_large' | 'timeout' | 'error'): void;
}

const two = (n: number): string => n.toFixed(2);

/** The answer of a judged message, in the layout rspamd's legacy writer uses. */
export function legacyReply(scan: Extract<Scan, { kind: 'scanned' }>, reject: number): string {
  const { verdict } = scan;
  const lines = [`RSPAMD/1.3 0 EX_OK`, `Metric: default; ${scan.spam ? 'True' : 'False'}; ${two(verdict.score)} / ${two(scan.threshold)} / ${two(reject)}`, `Action: ${RSPAMD_ACTION[verdict.action]}`];
  for (const s of verdict.symbols) {
    const opts = s.options.slice(0, 10).map((o) => o.replace(/[\x00-\x1f\x7f]/g, '?').slice(0, 100));
    lines.push(`Symbol: ${s.symbol}(${two(s.score)})${opts.length ? `; ${opts.join(', ')}` : ''}`);
  }
  lines.push(`Message-ID: spamgate-${scan.sessionId}`);
  return lines.join('\r\n') + '\r\n\r\n';
}

/** Reads one legacy request off `socket` (its first bytes in `first`), answers it and closes. */
export function serveLegacy(socket: Socket, first: Buffer, ctx: LegacyContext): void {
  // the head is gathered in `buf` (at most 16 KiB and a packet); the body's packets in `body`, joined once
  let buf = first;
  const body: Buffer[] = [];
  let have = 0;
  let done = false;
  let expected: number | undefined;
  let headers: IncomingHttpHeaders = {};
  const distinct: Record<string, string[]> = {};
  const fail = (code: number, text: string, result: 'too_large' | 'timeout' | 'error'): void => {
    if (done) return;
    done = true;
    ctx.result(result);
    socket.end(`RSPAMD/1.3 ${code} ${text.replace(/[\r\n]+/g, ' ')}\r\n\r\n`);
    socket.destroySoon();
    socket.emit('spamgate-answered');
  };
  socket.once('spamgate-timeout', () => fail(79, 'Timeout: no complete request in time', 'timeout'));
  const take = (): void => {
    if (done) return;
    if (expected === undefined) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buf.length > MAX_HEAD) fail(76, 'Bad header line: request headers too large', 'error');
        return;
      }
      const lines = buf.toString('latin1', 0, end).split('\r\n').slice(1);
      for (const line of lines) {
        const m = /^([A-Za-z][A-Za-z0-9_-]{0,63}):[ \t]*(.*?)[ \t]*$/.exec(line);
        if (!m || /[\x00-\x08\x0a-\x1f\x7f]/.test(m[2] ?? '')) return fail(76, 'Bad header line', 'error');
        const name = (m[1] ?? '').toLowerCase();
        (distinct[name] ??= []).push(m[2] ?? '');
      }
      headers = Object.fromEntries(Object.entries(distinct).map(([k, v]) => [k, v[0] ?? '']));
      const length = distinct['content-length']?.[0];
      if (length === undefined || !/^\d{1,12}$/.test(length)) return fail(76, 'Bad header line: Content-length required', 'error');
      expected = Number(length);
      if (expected > ctx.maxSize) return fail(65, `Message too big: Content-length ${expected} is over the limit of ${ctx.maxSize} bytes`, 'too_large');
      if (expected === 0) return fail(65, 'Empty message', 'error');
      body.push(buf.subarray(end + 4));
      have = buf.length - end - 4;
    }
    if (have < expected) return;
    done = true;
    socket.pause();
    // no deadline while it is judged; once answered, the answer must be taken with no silence of spamd.timeout
    socket.emit('spamgate-request-read');
    ctx
      .judge(headers, distinct, Buffer.concat(body, have).subarray(0, expected))
      .then(({ scan, reject }) => {
        ctx.result(scan.spam ? 'spam' : 'ham');
        socket.end(legacyReply(scan, reject));
        socket.emit('spamgate-answered');
      })
      .catch((err: unknown) => {
        done = false;
        fail(65, (err as Error).message, 'error');
      });
  };
  socket.on('data', (chunk: Buffer) => {
    if (done) return;
    if (expected === undefined) buf = Buffer.concat([buf, chunk]);
    else {
      body.push(chunk);
      have += chunk.length;
    }
    take();
  });
  socket.on('end', () => fail(76, 'Bad header line: request cut short', 'error'));
  take();
}
