// The small HTML pages of the digest links: the confirmation (a GET shows it and does nothing; its button POSTs),
// the outcome, and the refusals. Every value shown is HTML-escaped; the pages load nothing and may not be framed.
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

export type LinkAction = 'release' | 'delete';

const VERB: Record<LinkAction, string> = { release: 'Release', delete: 'Delete' };

export function confirmPage(action: LinkAction, token: string, m: HeldMessage): Page {
  const what = action === 'release' ? 'deliver this message to your mailbox' : 'delete your copy of this message from the quarantine';
  return page(
    200,
    `${VERB[action]} a quarantined message?`,
    `<dl><dt>To</dt><dd>${escapeHtml(m.recipient)}</dd><dt>From</dt><dd>${escapeHtml(m.sender === '' ? '<>' : displayText(m.sender, 100))}</dd>
<dt>Subject</dt><dd>${escapeHtml(displayText(m.subject, SUBJECT_CHARS) || '(none)')}</dd><dt>Received</dt><dd>${escapeHtml(digestDate(m.receivedAt))}</dd><dt>Score</dt><dd>${escapeHtml(m.score.toFixed(1))}</dd></dl>
<form method="post" action="${action}"><input type="hidden" name="t" value="${escapeHtml(token)}"><button type="submit">${VERB[action]}</button> — ${escapeHtml(what)}.</form>`,
  );
}

export function donePage(action: LinkAction): Page {
  return action === 'release'
    ? page(200, 'Message released', '<p>The message is on its way to your mailbox.</p>')
    : page(200, 'Message deleted', '<p>Your copy of the message was deleted from the quarantine.</p>');
}

export const alreadyDonePage = (): Page => page(410, 'Already done', '<p>This message is no longer held for you: it was already released or deleted, or it expired.</p>');
export const expiredPage = (): Page => page(410, 'Link expired', '<p>This link has expired. The administrator can still release the message while it is held.</p>');
export const invalidPage = (): Page => page(403, 'Invalid link', '<p>This link is not valid. Use the link from your quarantine digest as it is.</p>');
export const failedPage = (): Page => page(503, 'Not done', '<p>The request could not be carried out just now. Try again later.</p>');
export const tooLargePage = (): Page => page(413, 'Request too large', '<p>The request is too large.</p>');
