// An HTML page sent as an attachment (invoice.html, a phishing form posting to the kit's host): its links for the
// URI block lists, hrefs and form actions as the body's are read, and the URLs anywhere in its source, since
// such pages redirect by script (window.location = "https://…"). Its text stays out of the text checks.
import { decodeCharset } from './headers.ts';
import { htmlToText } from './html.ts';
import type { LinkList } from './links.ts';
import { decodeTransfer } from './transfer.ts';

const URL_IN_SOURCE = /\bhttps?:\/\/[^\s<>"'()\\]{1,500}/gi;

/** Attachments read as pages: text/html, or a name ending .htm, .html or .shtml whatever the declared type. */
export function isAttachedPage(type: string, filename: string | undefined): boolean {
  return type === 'text/html' || /\.s?html?$/i.test(filename ?? '');
}

/** The part's body as it came (transfer-encoded, in its charset). */
export function addPageLinks(body: string, charset: string | undefined, encoding: string, into: LinkList): void {
  let html: string;
  try {
    html = decodeCharset(decodeTransfer(body, encoding), charset);
  } catch {
    html = body;
  }
  for (const l of htmlToText(html).links) into.add(l);
  for (const m of html.matchAll(URL_IN_SOURCE)) {
    if (into.full) break;
    into.add(m[0]);
  }
}
