// Spam-minded tokenizer (after SpamBayes and bogofilter): body words, header tokens prefixed by the header
// name, URL hosts and paths, sender and Received details, MIME structure, optional adjacent word pairs.
import { addressParser } from 'postal-mime';
import type { ParsedMail } from '../mime/parse.ts';

export interface TokenizerOptions {
  /** Also emit adjacent body word pairs ("a b"), as in OSB with a window of 2. */
  wordPairs: boolean;
  /** Upper bound on distinct tokens per message. */
  maxTokens: number;
}

export const DEFAULT_TOKENIZER: TokenizerOptions = { wordPairs: false, maxTokens: 5000 };

/** Headers whose values are noise for classification or mined separately. */
const SKIP_VALUE = new Set([
  'received', 'date', 'message-id', 'content-type', 'content-transfer-encoding', 'content-disposition', 'mime-version',
  'dkim-signature', 'domainkey-signature', 'x-google-dkim-signature', 'arc-seal', 'arc-message-signature', 'delivered-to',
  'references', 'in-reply-to', 'x-spam-status', 'x-spam-level', 'x-spam-flag', 'x-spam-checker-version', 'x-spam-score',
  'x-spamgate', 'x-spamgate-report', 'x-spamgate-score', 'from', 'to', 'cc', 'reply-to', 'sender', 'return-path', 'subject',
]);
const ADDRESS_HEADERS = ['from', 'to', 'cc', 'reply-to', 'sender', 'return-path', 'errors-to'];
/** Lower-cased header name → its index in ADDRESS_HEADERS. */
const ADDRESS_INDEX = new Map(ADDRESS_HEADERS.map((name, i) => [name, i]));
const WS = /\s+/;
/** Characters trimmed from both ends of a word (the former TRIM regex, as a lookup table: no regex per word). */
const TRIM_CHAR = new Uint8Array(128);
for (const c of ' \t\n\r\v\f"\'()[]{}<>,.;:*`|~^') TRIM_CHAR[c.charCodeAt(0)] = 1;
const isTrim = (c: number): boolean => (c < 128 ? TRIM_CHAR[c] === 1 : c === 0xa0 || c === 0xfeff || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x3000 || c === 0x1680 || c === 0x202f || c === 0x205f);

/** The word without leading and trailing punctuation and spaces. */
function trimPunct(w: string): string {
  let a = 0;
  let b = w.length;
  while (a < b && isTrim(w.charCodeAt(a))) a++;
  while (b > a && isTrim(w.charCodeAt(b - 1))) b--;
  return a === 0 && b === w.length ? w : w.slice(a, b);
}
const URL_RE = /\b(?:https?|ftp):\/\/[^\s<>"'()]{1,300}|\bwww\.[a-z0-9-]+\.[^\s<>"'()]{1,300}/gi;
const LOCAL_CHAR = /[a-z0-9._%+-]/i;
const DOMAIN_RE = /^[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63})+/i;
const MAX_WORD = 20;

/** Distinct tokens of a parsed message. */
export function tokenize(mail: ParsedMail, opts: TokenizerOptions = DEFAULT_TOKENIZER): string[] {
  const out = new Set<string>();
  const add = (t: string): void => {
    if (out.size >= opts.maxTokens) return;
    // Tokens built by concatenation are ropes (V8 cons strings). Reading a character flattens one in place,
    // once, here: otherwise every later hash lookup and string comparison (this set, the token store's map)
    // takes V8's slow path for it. The result is the same string.
    t.charCodeAt(0);
    out.add(t);
  };
  headerTokens(mail, add);
  let body = mail.text;
  if (mail.htmlText) body = body ? `${body}\n${mail.htmlText}` : mail.htmlText;
  // An HTML link is usually also in the text: the same URL gives the same tokens, so each is mined once.
  const urlsSeen = new Set<string>();
  const addUrl = (url: string): void => {
    if (urlsSeen.has(url)) return;
    urlsSeen.add(url);
    urlTokens(url, add);
  };
  for (const link of mail.links) addUrl(link);
  body = body.replace(URL_RE, (u) => {
    addUrl(u);
    return ' ';
  });
  if (body.includes('@')) body = stripEmails(body, add);
  textTokens(body, '', add, opts.wordPairs);
  for (const [tag, n] of mail.htmlTags) if (n > 0) add(`html:${tag}`);
  if (mail.truncated) add('meta:truncated');
  for (const p of mail.problems) add(`meta:${p.replace(/\s+/g, '_').slice(0, 30)}`);
  return [...out];
}

/** Replaces e-mail addresses in text by a space, emitting their domain and local part (scans at '@'). */
function stripEmails(text: string, add: (t: string) => void): string {
  let out = '';
  let last = 0;
  for (let at = text.indexOf('@'), guard = 0; at >= 0 && guard < 1000; at = text.indexOf('@', at + 1), guard++) {
    let start = at;
    while (start > last && at - start < 64 && LOCAL_CHAR.test(text[start - 1] ?? '')) start--;
    const dom = DOMAIN_RE.exec(text.slice(at + 1, at + 254));
    if (start === at || !dom) continue;
    add(`email:${dom[0].toLowerCase()}`);
    add(`email:user:${text.slice(start, at).toLowerCase()}`);
    out += text.slice(last, start) + ' ';
    last = at + 1 + dom[0].length;
  }
  return last === 0 ? text : out + text.slice(last);
}

/** Words of free text: lower-cased, trimmed of punctuation, long words summarised as in SpamBayes. */
export function textTokens(text: string, prefix: string, add: (t: string) => void, pairs: boolean): void {
  const words = text.toLowerCase().split(WS);
  let prev = '';
  for (let i = 0; i < words.length; i++) {
    const w = trimPunct(words[i] ?? '');
    const n = w.length;
    if (n < 3) {
      if (n > 0) prev = '';
      continue;
    }
    if (n > MAX_WORD) {
      add(`${prefix}skip:${charClass(w)}${Math.floor(n / 10) * 10}`);
      prev = '';
      continue;
    }
    add(prefix + w);
    if (pairs && prev) add(`${prefix}${prev} ${w}`);
    prev = w;
  }
}

function charClass(w: string): string {
  const c = w.charCodeAt(0);
  if (c >= 97 && c <= 122) return 'a';
  if (c >= 48 && c <= 57) return '9';
  return c > 127 ? 'u' : 'p';
}

const URL_PARTS = /^(?:([a-z][a-z0-9+.-]*):\/\/)?([^/?#\s]*)([^?#\s]*)(\?[^#\s]*)?/i;
const PATH_SEPARATORS = /[/.=_-]+/;

/** A URL as tokens: scheme, host and each parent domain, path segments, query presence, numeric hosts. */
export function urlTokens(url: string, add: (t: string) => void): void {
  const m = URL_PARTS.exec(url.trim());
  if (!m) return;
  const scheme = m[1] === undefined ? 'http' : m[1].toLowerCase();
  add(`url:scheme:${scheme}`);
  if (scheme === 'mailto' || scheme === 'cid') return;
  const host = stripPort(stripUserInfo((m[2] ?? '').toLowerCase()));
  if (!host) return;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(host)) add('url:ip');
  else if (host.startsWith('.') || host.endsWith('.') || host.includes('..')) {
    // empty labels are dropped before the parent domains are formed
    const labels = host.split('.').filter(Boolean);
    for (let i = Math.max(0, labels.length - 4); i < labels.length - 1; i++) add(`url:${labels.slice(i).join('.')}`);
  } else domainSuffixTokens('url:', host, 4, add);
  if (host.includes('%') && /%[0-9a-f]{2}/i.test(host)) add('url:encoded-host');
  const path = m[3];
  if (path) for (const s of path.toLowerCase().split(PATH_SEPARATORS)) if (s.length >= 2 && s.length <= MAX_WORD) add(`url:path:${s}`);
  if (m[4]) add('url:query');
}

/** The host without "user@" (up to the first '@'). */
function stripUserInfo(host: string): string {
  const at = host.indexOf('@');
  return at < 0 ? host : host.slice(at + 1);
}

/** The host without a trailing ":digits" port. */
function stripPort(host: string): string {
  const colon = host.lastIndexOf(':');
  if (colon < 0 || colon === host.length - 1) return host;
  for (let i = colon + 1; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c < 48 || c > 57) return host;
  }
  return host.slice(0, colon);
}

/**
 * `prefix` + each parent domain of `host` with at most `maxLabels` and at least two labels, longest first
 * ("a.b.example.com", 3 → "b.example.com", "example.com"): the same strings as joining the split labels.
 */
function domainSuffixTokens(prefix: string, host: string, maxLabels: number, add: (t: string) => void): void {
  let start = 0;
  for (let k = 0, dot = host.length; k < maxLabels; k++) {
    dot = dot > 0 ? host.lastIndexOf('.', dot - 1) : -1;
    if (dot < 0) {
      start = 0;
      break;
    }
    start = dot + 1;
  }
  for (let dot = host.indexOf('.', start); dot >= 0; dot = host.indexOf('.', start)) {
    add(prefix + host.slice(start));
    start = dot + 1;
  }
}

function headerTokens(mail: ParsedMail, add: (t: string) => void): void {
  let received = 0;
  /** The first value of each address header, by ADDRESS_HEADERS index. */
  const addressValues: (string | undefined)[] = [];
  for (const h of mail.headers) {
    const name = h.name.toLowerCase();
    add(`hdr:${name}`);
    const addressIndex = ADDRESS_INDEX.get(name);
    if (addressIndex !== undefined) addressValues[addressIndex] ??= h.value;
    if (name === 'received') {
      if (received++ < 30) receivedTokens(h.value, add);
      continue;
    }
    if (name === 'message-id') {
      const at = /@([^>\s]+)/.exec(h.value);
      add(at ? `message-id:@${(at[1] ?? '').toLowerCase()}` : 'message-id:invalid');
      continue;
    }
    if (name === 'content-type') {
      add(`content-type:${h.value.split(';')[0]?.trim().toLowerCase() ?? ''}`);
      continue;
    }
    if (name === 'x-mailer' || name === 'user-agent') {
      add(`x-mailer:${h.value.toLowerCase().replace(/\s+/g, '_').slice(0, 40)}`);
      continue;
    }
    if (SKIP_VALUE.has(name) || name.startsWith('x-spam')) continue;
    textTokens(h.value.slice(0, 500), `${name}:`, add, false);
  }
  textTokens(mail.subject, 'subject:', add, true);
  const punct = mail.subject.match(/[!?$%*]{2,}/g);
  if (punct) for (const p of punct.slice(0, 3)) add(`subject:punct:${p.slice(0, 4)}`);
  if (mail.subject && mail.subject === mail.subject.toUpperCase() && /[A-Z]{4}/.test(mail.subject)) add('subject:allcaps');
  addressTokens(addressValues, add);
  for (const p of mail.parts) {
    add(`mime:${p.type}`);
    // header parameters arrive RFC 2047-decoded and may hold any character: tokens keep to one printable word
    if (p.charset) add(`charset:${printableWord(p.charset.slice(0, 40))}`);
    if (p.encoding !== '7bit') add(`encoding:${printableWord(p.encoding.slice(0, 20))}`);
    const ext = p.filename ? /\.([a-z0-9]{1,8})$/i.exec(p.filename) : null;
    if (ext) add(`filename:.${(ext[1] ?? '').toLowerCase()}`);
  }
}

/**
 * A lone address with no display name, quoting, comment or group, bare or in angle brackets: addressParser
 * gives back just that address with an empty name, so it is not run for these (most address fields).
 */
const LONE_ADDRESS = /^(?:[A-Za-z0-9._%+=-]+@[A-Za-z0-9.-]+|<([A-Za-z0-9._%+=-]+@[A-Za-z0-9.-]+)>)$/;

/** The first ten addresses of an address field (postal-mime's parser, which never sees a lone address). */
function parseAddresses(value: string): { name: string; address?: string }[] {
  const lone = LONE_ADDRESS.exec(value);
  if (lone) return [{ name: '', address: lone[1] ?? value }];
  try {
    return addressParser(value, { flatten: true }).slice(0, 10);
  } catch {
    return [];
  }
}

function addressTokens(addressValues: readonly (string | undefined)[], add: (t: string) => void): void {
  for (let i = 0; i < ADDRESS_HEADERS.length; i++) {
    const name = ADDRESS_HEADERS[i] ?? '';
    const value = addressValues[i];
    if (value === undefined) continue;
    const list = parseAddresses(value);
    if (list.length === 0) add(`${name}:none`);
    for (const a of list) {
      const addr = (a.address ?? '').toLowerCase();
      const at = addr.lastIndexOf('@');
      if (addr) add(`${name}:addr:${addr}`);
      if (at > 0) add(`${name}:domain:${addr.slice(at + 1)}`);
      else add(`${name}:no-domain`);
      if (a.name) textTokens(a.name, `${name}:name:`, add, false);
      else add(`${name}:no-name`);
    }
  }
}

const RECEIVED_HOST = /\b(?:from|by)\s+([a-z0-9.-]+\.[a-z]{2,})/g;
const RECEIVED_IP = /\[(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.\d{1,3}\]/g;
const RECEIVED_WITH = /\bwith\s+([a-z0-9]+)/;

/** Host names and IPv4 /24 prefixes from a Received field (as SpamBayes mines them). */
function receivedTokens(value: string, add: (t: string) => void): void {
  const v = value.toLowerCase();
  RECEIVED_HOST.lastIndex = 0;
  for (let m = RECEIVED_HOST.exec(v); m !== null; m = RECEIVED_HOST.exec(v)) domainSuffixTokens('received:', m[1] ?? '', 3, add);
  if (v.includes('[')) {
    RECEIVED_IP.lastIndex = 0;
    for (let m = RECEIVED_IP.exec(v); m !== null; m = RECEIVED_IP.exec(v)) {
      const net16 = `received:ip:${m[1]}.${m[2]}`;
      add(net16);
      add(`${net16}.${m[3]}`);
    }
  }
  const w = RECEIVED_WITH.exec(v);
  if (w) add(`received:with:${w[1]}`);
}

/** Where a token's evidence comes from, for the evidence combiner (src/bayes/combiner.ts). */
export type TokenFamily = 'header' | 'body' | 'url';

/** Prefixes of tokens mined from the text a reader sees (subject, body words, addresses in it, HTML tags). */
const BODY_PREFIXES = new Set(['subject', 'html', 'email', 'skip']);
/**
 * A token's prefix: a (lower-cased) header field name or one of the tokenizer's own prefixes, which start
 * with a letter, followed by one colon. Body words that merely contain colons ("18:51:26", "perl::module")
 * do not match; a few ("get:1") still do and count as header evidence, the same way when fitting the
 * combiner and when scoring.
 */
const PREFIX = /^([a-z][a-z0-9_.-]*):(?!:)/;

/**
 * The family of a token this tokenizer emitted: `url:` tokens; body words (no prefix) and the reader-visible
 * prefixes above; everything else (header names and values, Received, MIME structure) is header evidence.
 */
export function tokenFamily(token: string): TokenFamily {
  const m = PREFIX.exec(token);
  if (!m) return 'body';
  const prefix = m[1] ?? '';
  if (prefix === 'url') return 'url';
  return BODY_PREFIXES.has(prefix) ? 'body' : 'header';
}

/** White space and control characters made "_" (a token is written as the rest of one line of the model file). */
function printableWord(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\s\x00-\x1f\x7f]/g, '_');
}
