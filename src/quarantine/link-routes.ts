// The HTTP routes of the digest links, on the metrics listener: /quarantine/release and /quarantine/delete, and in
// full-stack mode with list links /quarantine/allow, /quarantine/block (the same, plus the message's envelope sender
// on that recipient's user's allow or block list) and /quarantine/lists (the user's lists, an entry removed per
// POST). A GET only shows a page (mail security products fetch every link in a message: a GET never acts); the POST
// its form sends acts for that recipient alone. The token (link-token.ts), made for the route's action, is checked
// first; a request body is read up to MAX_BODY bytes. No Origin check: nothing rides on ambient credentials (no
// cookie, no session, no address-based trust); the POST must carry the token itself, which a forging page cannot know.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from '../metrics/registry.ts';
import type { MessageSink } from '../queue/types.ts';
import type { Clock } from '../util/clock.ts';
import type { Logger } from '../util/logger.ts';
import { createDigestMetrics } from './digest-metrics.ts';
import { quarantineFile, readQuarantinedHead } from './format.ts';
import { addEntry, ListsBusyError, readOrThrow, removeEntry } from '../lists/user-list-edit.ts';
import { normaliseEntry } from '../lists/user-list-file.ts';
import { canonicalMailbox } from '../smtp/address.ts';
import { parsePrvs } from '../batv/prvs.ts';
import { srsOriginalSender } from '../mailhost/srs.ts';
import { alreadyDonePage, badRequestPage, confirmPage, donePage, expiredPage, failedPage, invalidPage, listedPage, listFullPage, listsPage, noListsPage, PAGE_HEADERS, tooLargePage, type HeldMessage, type LinkAction, type Page } from './link-pages.ts';
import type { LinkTokens, TokenAction } from './link-token.ts';
import type { Quarantine } from './store.ts';

/** A route of the HTTP listener that answers GET and POST itself. */
export type HttpRoute = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/** Bytes of a POST body read at most (the form holds one token, and on the lists page one entry). */
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
  /** Full-stack mode with quarantine.digest.list_links: the allow, block and lists routes. */
  lists?: ListLinkOptions;
}

export interface ListLinkOptions {
  /** data_dir/user-lists.json */
  file: string;
  /** The local user a recipient reaches, resolved as the user_lists check resolves it (userOf there), else undefined. */
  userOf(recipient: string): string | undefined;
}

/**
 * The list entry for a message's sender: its envelope MAIL FROM, the identity the allow entry matches with SPF
 * (the digest and the page show it too), in the normal form of the CLI's entries; none for the null sender or
 * anything that is not one plain mailbox. A BATV-tagged sender (prvs=, a new tag each day or message) and a
 * forwarder's SRS address (a new hash and stamp each day) are listed as the address they stand for: the tagged one
 * would never match again, while the plain one matches the next message's header From (or untagged MAIL FROM).
 * None for a sender with control or format characters.
 */
export function senderEntry(mailFrom: string): string | undefined {
  if (mailFrom === '') return undefined;
  let sender = canonicalMailbox(mailFrom);
  const prvs = parsePrvs(sender);
  if (prvs.kind === 'tagged') sender = prvs.address;
  sender = srsOriginalSender(sender) ?? sender;
  // a control or format character (a bidi override, a zero-width space) would make the page show another address
  // than the one listed: such a sender gets no list links
  if (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(sender)) return undefined;
  const n = normaliseEntry(sender);
  return 'entry' in n && n.entry.includes('@') && !n.entry.startsWith('.') ? n.entry : undefined;
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

/** A POST's form fields, or undefined (413 sent) when the body is over MAX_BODY. */
async function formOf(req: IncomingMessage, res: ServerResponse): Promise<URLSearchParams | undefined> {
  const body = await readBody(req, MAX_BODY);
  if (body !== undefined) return new URLSearchParams(body);
  reply(res, tooLargePage());
  res.once('finish', () => req.destroy());
  return undefined;
}

export function createLinkRoutes(opts: LinkRoutesOptions): Record<string, HttpRoute> {
  const { links } = createDigestMetrics(opts.registry);
  /** The verified claim and the form (POST), or undefined when a refusal was sent. */
  const admit = async (req: IncomingMessage, res: ServerResponse, action: TokenAction, counted: string): Promise<{ id: string; recipient: string; token: string; form?: URLSearchParams } | undefined> => {
    const query = new URL(req.url ?? '/', 'http://x').searchParams;
    let token = query.get('t') ?? '';
    let form: URLSearchParams | undefined;
    if (req.method === 'POST') {
      form = await formOf(req, res);
      if (!form) {
        links.inc({ action: counted, result: 'invalid' });
        return undefined;
      }
      token = form.get('t') ?? token;
    }
    const checked = opts.tokens.verify(token, opts.clock.now(), action);
    if (!checked.ok) {
      links.inc({ action: counted, result: checked.reason });
      reply(res, checked.reason === 'expired' ? expiredPage() : invalidPage());
      return undefined;
    }
    return { id: checked.claim.id, recipient: checked.claim.recipient, token, ...(form ? { form } : {}) };
  };

  const handler = (action: LinkAction): HttpRoute => async (req, res) => {
    const post = req.method === 'POST';
    const counted = post ? action : 'view';
    const claim = await admit(req, res, action, counted);
    if (!claim) return;
    const { id, recipient, token } = claim;
    const held = post && (action === 'release' || action === 'delete') ? undefined : await heldFor(opts.quarantine.dir, id, recipient);
    if (action === 'allow' || action === 'block') {
      const lists = opts.lists;
      if (!held) {
        links.inc({ action: counted, result: 'already_done' });
        return reply(res, alreadyDonePage());
      }
      const user = lists?.userOf(recipient);
      const entry = senderEntry(held.sender);
      if (!lists || user === undefined || entry === undefined) {
        links.inc({ action: counted, result: 'invalid' });
        return reply(res, noListsPage());
      }
      if (!post) {
        links.inc({ action: 'view', result: 'ok' });
        return reply(res, confirmPage(action, token, held, entry));
      }
      // the entry first: a full list changes nothing, and a message released under a failed listing would not be
      // listed by a retry (it is no longer held); a retry after a failed release finds the entry there already
      const added = await addEntry(lists.file, user, action, entry, () => lists.userOf(recipient) === user).catch((err: Error) => err);
      if (added instanceof Error || added === 'no_user') {
        links.inc({ action, result: added === 'no_user' ? 'invalid' : 'failed' });
        if (added instanceof Error && !(added instanceof ListsBusyError)) opts.log.error('quarantine link: the user lists could not be changed', { error: added.message });
        return reply(res, added === 'no_user' ? noListsPage() : failedPage());
      }
      if (added === 'user_full' || added === 'total_full') {
        links.inc({ action, result: 'list_full' });
        return reply(res, listFullPage(added === 'total_full'));
      }
      const outcome = action === 'allow' ? await opts.quarantine.releaseFor(id, recipient, opts.sink, opts.learn) : await opts.quarantine.removeFor(id, recipient);
      links.inc({ action, result: outcome === 'failed' ? 'failed' : 'ok' });
      opts.log.info(`quarantine link: ${action}`, { id, recipient, user, entry, message: outcome });
      return reply(res, outcome === 'failed' ? failedPage() : listedPage(action, entry, outcome));
    }
    if (!post) {
      links.inc({ action: 'view', result: held ? 'ok' : 'already_done' });
      return reply(res, held ? confirmPage(action, token, held) : alreadyDonePage());
    }
    const outcome = action === 'release' ? await opts.quarantine.releaseFor(id, recipient, opts.sink, opts.learn) : await opts.quarantine.removeFor(id, recipient);
    links.inc({ action, result: outcome === 'done' ? 'ok' : outcome === 'not_held' ? 'already_done' : 'failed' });
    if (outcome === 'done') opts.log.info(`quarantine link: ${action}`, { id, recipient });
    reply(res, outcome === 'done' ? donePage(action) : outcome === 'not_held' ? alreadyDonePage() : failedPage());
  };

  /** The user's lists; a POST takes the entry it names off them first. */
  const listsRoute = (lists: ListLinkOptions): HttpRoute => async (req, res) => {
    const post = req.method === 'POST';
    const counted = post ? 'unlist' : 'view';
    const claim = await admit(req, res, 'lists', counted);
    if (!claim) return;
    // the token names a user; it acts only while that name still reaches that very user (a name deleted and made an
    // alias of someone else, within the link's lifetime, must not show or change the other user's lists)
    const user = lists.userOf(claim.recipient);
    if (user === undefined || user !== claim.recipient) {
      links.inc({ action: counted, result: 'invalid' });
      return reply(res, noListsPage());
    }
    try {
      let note: string | undefined;
      if (post) {
        const raw = claim.form?.get('entry') ?? '';
        const n = normaliseEntry(raw);
        if ('error' in n) {
          links.inc({ action: counted, result: 'invalid' });
          return reply(res, badRequestPage());
        }
        const removed = await removeEntry(lists.file, user, n.entry);
        links.inc({ action: counted, result: removed === 'removed' ? 'ok' : 'already_done' });
        if (removed === 'removed') opts.log.info('quarantine link: unlist', { user, entry: n.entry });
        note = removed === 'removed' ? `${n.entry} was removed from your lists.` : `${n.entry} was not on your lists.`;
      } else links.inc({ action: counted, result: 'ok' });
      const mine = readOrThrow(lists.file)[user] ?? { allow: [], block: [] };
      reply(res, listsPage(claim.token, user, mine, note));
    } catch (err) {
      links.inc({ action: counted, result: 'failed' });
      if (!(err instanceof ListsBusyError)) opts.log.error('quarantine link: the user lists could not be read or changed', { error: (err as Error).message });
      reply(res, failedPage());
    }
  };

  return {
    '/quarantine/release': handler('release'),
    '/quarantine/delete': handler('delete'),
    ...(opts.lists ? { '/quarantine/allow': handler('allow'), '/quarantine/block': handler('block'), '/quarantine/lists': listsRoute(opts.lists) } : {}),
  };
}
