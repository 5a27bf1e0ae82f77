// The small HTML pages of the digest links: the confirmation (a GET shows it and does nothing; its button POSTs),
// the outcome, the user's sender lists with a remove button per entry, and the refusals. Every value shown is HTML-escaped; the pages load nothing and may not be framed.
import { digestDate, displayText, escapeHtml, SUBJECT_CHARS } from './digest-compose.ts';

export interface Page {
  status: number;
  html: string;
}

/** Headers of every link page: no caching (a token is in the URL), no referrer, no framing, nothing loaded. */
export const PAGE_HEADERS: Record<string, string> = {
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
};

function page(status: number, title: string, body: string): Page {
  const html = `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><meta name="robots" content="noindex"><title>${escapeHtml(title)}</title>
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}dt{font-weight:bold}</style></head>
<body><h1>${escapeHtml(title)}</h1>\n${body}\n</body></html>\n`;
  return { status, html };
}

export interface HeldMessage {
  recipient: string;
  sender: string;
  subject: string;
  receivedAt: number;
  score: number;
}

export type LinkAction = 'release' | 'delete' | 'allow' | 'block';

const VERB: Record<LinkAction, string> = { release: 'Release', delete: 'Delete', allow: 'Release and allow sender', block: 'Delete and block sender' };
const TITLE: Record<LinkAction, string> = {
  release: 'Release a quarantined message?',
  delete: 'Delete a quarantined message?',
  allow: 'Release this message and always allow its sender?',
  block: 'Delete this message and block its sender?',
};

/** What the button does; `entry` is the sender address allow and block put on the list. */
function what(action: LinkAction, entry: string): string {
  switch (action) {
    case 'release':
      return 'deliver this message to your mailbox';
    case 'delete':
      return 'delete your copy of this message from the quarantine';
    case 'allow':
      return `deliver this message to your mailbox and put ${entry} on your allow list (it counts only for mail that sender's domain authenticates)`;
    case 'block':
      return `delete your copy of this message from the quarantine and put ${entry} on your block list`;
  }
}

/** `entry`: the sender address an allow or block link lists (unused for release and delete). */
export function confirmPage(action: LinkAction, token: string, m: HeldMessage, entry = ''): Page {
  return page(
    200,
    TITLE[action],
    `<dl><dt>To</dt><dd>${escapeHtml(m.recipient)}</dd><dt>From</dt><dd>${escapeHtml(m.sender === '' ? '<>' : displayText(m.sender, 100))}</dd>
<dt>Subject</dt><dd>${escapeHtml(displayText(m.subject, SUBJECT_CHARS) || '(none)')}</dd><dt>Received</dt><dd>${escapeHtml(digestDate(m.receivedAt))}</dd><dt>Score</dt><dd>${escapeHtml(m.score.toFixed(1))}</dd></dl>
<form method="post" action="${action}"><input type="hidden" name="t" value="${escapeHtml(token)}"><button type="submit">${escapeHtml(VERB[action])}</button> — ${escapeHtml(what(action, entry))}.</form>`,
  );
}

export function donePage(action: LinkAction): Page {
  return action === 'release' || action === 'allow'
    ? page(200, 'Message released', '<p>The message is on its way to your mailbox.</p>')
    : page(200, 'Message deleted', '<p>Your copy of the message was deleted from the quarantine.</p>');
}

/** After an allow or block POST: the list changed, and what became of the message (`held`: false when it was gone already). */
export function listedPage(action: 'allow' | 'block', entry: string, outcome: 'done' | 'not_held'): Page {
  const list = action === 'allow' ? 'allow' : 'block';
  const message =
    outcome === 'not_held'
      ? 'The message itself was no longer held for you (already released or deleted).'
      : action === 'allow'
        ? 'The message is on its way to your mailbox.'
        : 'Your copy of the message was deleted from the quarantine.';
  const note = action === 'allow' ? ' Mail from this sender skips the spam filter for you only when its domain authenticates it (SPF, DKIM or DMARC).' : ' Mail from this sender goes to your Junk folder.';
  return page(200, action === 'allow' ? 'Sender allowed' : 'Sender blocked', `<p>${escapeHtml(entry)} is on your ${list} list.${escapeHtml(note)}</p>\n<p>${escapeHtml(message)}</p>`);
}

/** An allow or block link that cannot list its sender: nothing was done. */
export function listFullPage(total: boolean): Page {
  const why = total ? 'The sender lists of this server are full.' : 'Your sender lists are full (200 entries at most).';
  return page(409, 'Sender lists full', `<p>${escapeHtml(why)} Nothing was done: the message is still held. Remove entries with the “manage my sender lists” link of your digest, or use the plain Release or Delete link.</p>`);
}

export const noListsPage = (): Page => page(409, 'No sender lists here', '<p>Sender lists are not available for this address or this sender. Nothing was done; use the plain Release or Delete link.</p>');

export interface ListEntries {
  allow: readonly string[];
  block: readonly string[];
}

/** The user's lists, each entry with a remove button posting the token and the entry; `note` says what the last POST did. */
export function listsPage(token: string, user: string, lists: ListEntries, note?: string): Page {
  const t = escapeHtml(token);
  const rows = (entries: readonly string[]): string =>
    entries.length === 0
      ? '<p>(none)</p>'
      : `<ul>\n${entries.map((e) => `<li><form method="post" action="lists"><input type="hidden" name="t" value="${t}"><input type="hidden" name="entry" value="${escapeHtml(e)}">${escapeHtml(e)} <button type="submit">Remove</button></form></li>`).join('\n')}\n</ul>`;
  return page(
    200,
    'Your sender lists',
    `${note ? `<p><strong>${escapeHtml(note)}</strong></p>\n` : ''}<p>For ${escapeHtml(user)}.</p>
<h2>Allowed senders</h2>\n<p>Mail from these senders skips the spam filter for you when their domain authenticates it.</p>\n${rows(lists.allow)}
<h2>Blocked senders</h2>\n<p>Mail from these senders goes to your Junk folder.</p>\n${rows(lists.block)}`,
  );
}

export const badRequestPage = (): Page => page(400, 'Bad request', '<p>The request is not one this page sends.</p>');

export const alreadyDonePage = (): Page => page(410, 'Already done', '<p>This message is no longer held for you: it was already released or deleted, or it expired.</p>');
export const expiredPage = (): Page => page(410, 'Link expired', '<p>This link has expired. The administrator can still release the message while it is held.</p>');
export const invalidPage = (): Page => page(403, 'Invalid link', '<p>This link is not valid. Use the link from your quarantine digest as it is.</p>');
export const failedPage = (): Page => page(503, 'Not done', '<p>The request could not be carried out just now. Try again later.</p>');
export const tooLargePage = (): Page => page(413, 'Request too large', '<p>The request is too large.</p>');
