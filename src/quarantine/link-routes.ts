// The HTTP routes of the digest links, on the metrics listener: /quarantine/release and /quarantine/delete. A GET
// only shows a confirmation page (mail security products fetch every link in a message: a GET never acts); the
// POST its form sends releases or deletes that recipient's copy alone. The token (link-token.ts) is checked first;
// a request body is read up to MAX_BODY bytes.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from '../metrics/registry.ts';
import type { MessageSink } from '../queue/types.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { createDigestMetrics } from './digest-metrics.ts';
import { quarantineFile, readQuarantinedHead } from './format.ts';
import { alreadyDonePage, confirmPage, donePage, expiredPage, failedPage, invalidPage, PAGE_HEADERS, tooLargePage, type HeldMessage, type LinkAction, type Page } from './link-pages.ts';
import type { LinkTokens } from './link-token.ts';
import type { Quarantine } from './store.ts';

/** A route of the HTTP listener that answers GET and POST itself. */
export type HttpRoute = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/** Bytes of a POST body read at most (the form holds one token). */
export const MAX_BODY = 4096;

export interface LinkRoutesOptions {
  tokens: LinkTokens;
  quarantine: Pick<Quarantine, 'dir' | 'releaseFor' | 'removeFor'>;
  sink: MessageSink;
  /** quarantine.digest.learn_on_release */
  learn: boolean;
  clock: Clock;
  registry: Registry;
  log: Logger;
}

function reply(res: ServerResponse, p: Page): void {
  res.writeHead(p.status, { ...PAGE_HEADERS, 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(p.html) });
  res.end(p.html);
}

/** The body, or undefined once it passes `max` bytes (the rest is not read). */
function readBody(req: IncomingMessage, max: number): Promise<string | undefined> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.pause();
        resolve(undefined);
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** The message as held for the recipient, or undefined when it is not (any more). */
async function heldFor(dir: string, id: string, recipient: string): Promise<HeldMessage | undefined> {
  const head = await readQuarantinedHead(quarantineFile(dir, id)).catch(() => undefined);
  const rcpt = head?.envelope.rcptTo.find((r) => r.toLowerCase() === recipient.toLowerCase());
  if (!head || rcpt === undefined) return undefined;
  const e = head.envelope;
  return { recipient: rcpt, sender: e.mailFrom, subject: e.quarantine.subject ?? '', receivedAt: e.receivedAt, score: e.quarantine.score };
}

export function createLinkRoutes(opts: LinkRoutesOptions): Record<string, HttpRoute> {
  const { links } = createDigestMetrics(opts.registry);
  const handler = (action: LinkAction): HttpRoute => async (req, res) => {
    const post = req.method === 'POST';
    const counted = post ? action : 'view';
    const query = new URL(req.url ?? '/', 'http://x').searchParams;
    let token = query.get('t') ?? '';
    if (post) {
      const body = await readBody(req, MAX_BODY);
      if (body === undefined) {
        links.inc({ action: counted, result: 'invalid' });
        reply(res, tooLargePage());
        res.once('finish', () => req.destroy());
        return;
      }
      token = new URLSearchParams(body).get('t') ?? token;
    }
    const checked = opts.tokens.verify(token, opts.clock.now());
    if (!checked.ok) {
      links.inc({ action: counted, result: checked.reason });
      return reply(res, checked.reason === 'expired' ? expiredPage() : invalidPage());
    }
    const { id, recipient } = checked.claim;
    if (!post) {
      const held = await heldFor(opts.quarantine.dir, id, recipient);
      links.inc({ action: 'view', result: held ? 'ok' : 'already_done' });
      return reply(res, held ? confirmPage(action, token, held) : alreadyDonePage());
    }
    const outcome = action === 'release' ? await opts.quarantine.releaseFor(id, recipient, opts.sink, opts.learn) : await opts.quarantine.removeFor(id, recipient);
    links.inc({ action, result: outcome === 'done' ? 'ok' : outcome === 'not_held' ? 'already_done' : 'failed' });
    if (outcome === 'done') opts.log.info(`quarantine link: ${action}`, { id, recipient });
    reply(res, outcome === 'done' ? donePage(action) : outcome === 'not_held' ? alreadyDonePage() : failedPage());
  };
  return { '/quarantine/release': handler('release'), '/quarantine/delete': handler('delete') };
}
