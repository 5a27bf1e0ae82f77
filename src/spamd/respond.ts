// Answers one complete spamc request: PING, SKIP, TELL, or a scan (CHECK, SYMBOLS, REPORT, REPORT_IFSPAM,
// PROCESS, HEADERS) judged by judge.ts, in the response layout spamd/PROTOCOL gives for each command.
import type { Learner } from '../bayes/learner.ts';
import type { SpamdConfig } from '../config/sections/spamd.ts';
import type { GatewayDeps } from '../smtp/gateway-types.ts';
import { scanMessage } from './judge.ts';
import type { SpamdMetrics } from './metrics.ts';
import { processMessage, mboxLineLength } from './process-output.ts';
import { errorLine, EX, okResponse, PONG, spamHeader } from './protocol.ts';
import { reportBody, symbolsBody } from './report.ts';
import type { SpamdRequest } from './request-reader.ts';
import { NO_LEARNER, readTell, tell, TELL_DISABLED } from './tell.ts';

export interface AnswerContext {
  deps: GatewayDeps;
  config: SpamdConfig;
  peer: string;
  metrics: SpamdMetrics;
  learner?: Learner;
}

/** What to write (none: close without a word, as SKIP asks) and why, for the log. */
export interface Answer {
  bytes?: Buffer;
  why: string;
}

/**
 * The User header as one of our recipients: an address at a local domain (its threshold overrides apply).
 * A bare user name — spamc's default, the Unix user running it — names no recipient.
 */
export function localRecipient(user: string | undefined, localDomains: readonly string[]): string | undefined {
  if (user === undefined || user.length > 254) return undefined;
  const m = /^([^@\s]+)@([^@\s]+)$/.exec(user);
  const domain = m?.[2]?.toLowerCase();
  return domain !== undefined && localDomains.some((d) => d.toLowerCase() === domain) ? user.toLowerCase() : undefined;
}

export async function answer(req: SpamdRequest, ctx: AnswerContext): Promise<Answer> {
  const { metrics } = ctx;
  switch (req.command) {
    case 'PING':
      metrics.request('PING', 'ok');
      return { bytes: PONG, why: 'ping' };
    case 'SKIP':
      metrics.request('SKIP', 'ok');
      return { why: 'skip' };
    case 'TELL':
      return answerTell(req, ctx);
    default:
      return answerScan(req, ctx);
  }
}

async function answerTell(req: SpamdRequest, ctx: AnswerContext): Promise<Answer> {
  const refuse = (e: typeof TELL_DISABLED, result: 'refused' | 'error'): Answer => {
    ctx.metrics.request('TELL', result);
    // spamc prints nothing for a refused TELL (exit 74): the reason is said here, where the administrator looks
    ctx.deps.log.warn('spamd tell refused', { peer: ctx.peer, user: req.headers.get('user'), reason: e.text });
    return { bytes: errorLine(e), why: e.text };
  };
  if (!ctx.config.allow_tell) return refuse(TELL_DISABLED, 'refused');
  if (!ctx.learner) return refuse(NO_LEARNER, 'refused');
  const t = readTell(req.headers);
  if ('code' in t) return refuse(t, 'error');
  const message = req.body.subarray(mboxLineLength(req.body));
  const { headers, outcome } = await tell(ctx.learner, message, t);
  ctx.metrics.request('TELL', 'ok');
  ctx.deps.log.info('spamd tell', { peer: ctx.peer, user: req.headers.get('user'), outcome, did: headers });
  return { bytes: okResponse(headers), why: `tell ${outcome}` };
}

async function answerScan(req: SpamdRequest, ctx: AnswerContext): Promise<Answer> {
  const { deps, config, metrics } = ctx;
  const userHeader = req.headers.get('user');
  const user = localRecipient(userHeader, deps.snapshot().config.local_domains);
  const raw = req.body.subarray(mboxLineLength(req.body));
  const scan = await scanMessage(deps, config, { raw, command: req.command, peer: ctx.peer, ...(user ? { user } : {}), ...(userHeader !== undefined ? { userHeader } : {}) });
  if (scan.kind === 'refused') {
    metrics.request(req.command, 'error');
    return { bytes: errorLine({ code: EX.DATAERR, text: `Message refused: ${scan.text}` }), why: scan.text };
  }
  metrics.request(req.command, scan.spam ? 'spam' : 'ham');
  const spam = spamHeader(scan.spam, scan.verdict.score, scan.threshold);
  const snapshot = deps.snapshot();
  let body: Buffer | undefined;
  switch (req.command) {
    case 'SYMBOLS':
      body = symbolsBody(scan);
      break;
    case 'REPORT':
      body = reportBody(scan, snapshot.ruleset, deps.hostname);
      break;
    case 'REPORT_IFSPAM':
      // spamd/PROTOCOL: "the same as REPORT if the message is spam, or nothing at all if the message is non-spam"
      body = scan.spam ? reportBody(scan, snapshot.ruleset, deps.hostname) : Buffer.alloc(0);
      break;
    case 'PROCESS': {
      const out = processMessage(req.body, scan, { hostname: deps.hostname });
      body = Buffer.concat([out.head, out.body]);
      break;
    }
    case 'HEADERS':
      body = processMessage(req.body, scan, { hostname: deps.hostname }).head;
      break;
    default:
      // CHECK: "just a header (terminated by "\r\n\r\n")" with the Spam line
      body = undefined;
  }
  return { bytes: okResponse([spam], body), why: `${req.command.toLowerCase()} ${scan.spam ? 'spam' : 'ham'}` };
}
