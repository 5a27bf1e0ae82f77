// HTML to plain text for the filter: drops scripts, styles and comments, keeps link targets and image alts.
import { LinkList } from './links.ts';

export interface HtmlText {
  text: string;
  /** href/src targets found, in order, without repeats (bounded: links.ts). */
  links: string[];
  /** Count of tags by lower-cased name (bounded to names seen). */
  tags: Map<string, number>;
}

const ENTITIES: Record<string, string> = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', copy: '©', reg: '®', trade: '™',
  euro: '€', pound: '£', yen: '¥', cent: '¢', hellip: '…', mdash: '—', ndash: '–', laquo: '«', raquo: '»',
  rsquo: '’', lsquo: '‘', rdquo: '”', ldquo: '“', bull: '•', middot: '·', shy: '',
  // the punctuation of a URL, as spam writes link targets to slip past filters (http&colon;&sol;&sol;…)
  colon: ':', sol: '/', period: '.', commat: '@', quest: '?', num: '#', percnt: '%', equals: '=', lowbar: '_',
  tab: '\t', newline: '\n',
};

/** Decodes named and numeric character references (HTML §13.2.5.72, common subset). */
export function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#x[0-9a-f]{1,6}|#\d{1,7}|[a-z]{2,8});?/gi, (m, ref: string) => {
    if (ref[0] === '#') {
      const code = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : '';
    }
    return ENTITIES[ref.toLowerCase()] ?? m;
  });
}

const BLOCK = new Set(['p', 'br', 'div', 'tr', 'li', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'table', 'td', 'th', 'ul', 'ol', 'hr', 'title', 'center', 'blockquote']);
const ATTR_LINK = /\b(href|src|action|background)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/gi;
const ATTR_ALT = /\balt\s*=\s*(?:"([^"]*)"|'([^']*)')/i;

/**
 * Runs of spaces, tabs and no-break spaces other than a lone space: each becomes one space (the same result
 * as replacing every run, without rebuilding the text at each word gap).
 */
const SPACE_RUN = / [ \t\u00a0]+|[\t\u00a0][ \t\u00a0]*/g;
/** Longest attribute part of a tag, as in <\/?([a-zA-Z][a-zA-Z0-9]*)([^<>]{0,4000})>. */
const MAX_TAG_ATTRS = 4000;

export function htmlToText(html: string, maxLinks = 200): HtmlText {
  const links = new LinkList(maxLinks);
  const tags = new Map<string, number>();
  const src = dropScriptsAndStyles(dropComments(html));
  let out = '';
  let last = 0;
  for (let lt = src.indexOf('<'); lt >= 0; ) {
    const tag = tagAt(src, lt);
    if (tag === undefined) {
      lt = src.indexOf('<', lt + 1);
      continue;
    }
    out += src.slice(last, lt);
    last = tag.end + 1;
    const name = src.slice(tag.nameStart, tag.nameEnd).toLowerCase();
    const seen = tags.get(name);
    if (seen !== undefined) tags.set(name, seen + 1);
    else if (tags.size < 64) tags.set(name, 1);
    if (tag.end > tag.nameEnd) {
      const attrs = src.slice(tag.nameEnd, tag.end);
      ATTR_LINK.lastIndex = 0;
      let a: RegExpExecArray | null;
      while ((a = ATTR_LINK.exec(attrs)) !== null) {
        // as a browser reads it (WHATWG URL, basic URL parser): every ASCII tab or newline removed, so
        // "ht&#9;tp://" and an href broken across lines still lead where they go
        const url = decodeEntities(a[2] ?? a[3] ?? a[4] ?? '').replace(/[\t\n\r]/g, '').trim();
        if (url) {
          links.add(url);
          // keep the link in the text so body rules and tokens see it next to its anchor
          if ((a[1] ?? '').toLowerCase() === 'href') out += ` ${url} `;
        }
      }
      const alt = ATTR_ALT.exec(attrs);
      if (alt) out += ` ${alt[1] ?? alt[2] ?? ''} `;
    }
    out += BLOCK.has(name) ? '\n' : ' ';
    lt = src.indexOf('<', last);
  }
  out += src.slice(last);
  return { text: decodeEntities(out).replace(SPACE_RUN, ' ').replace(/\n\s*\n+/g, '\n').trim(), links: links.items, tags };
}

/**
 * `html.replace(/<!--[\s\S]*?-->/g, ' ')` in one pass: that regex scans to the end of the text from every
 * "<!--" that is never closed, quadratic on a message of "<!--" repeated.
 */
export function dropComments(html: string): string {
  let open = html.indexOf('<!--');
  if (open < 0) return html;
  let out = '';
  let last = 0;
  while (open >= 0) {
    const close = html.indexOf('-->', open + 4);
    if (close < 0) break; // no "-->" after this one: none of the later "<!--" close either
    out += html.slice(last, open) + ' ';
    last = close + 3;
    open = html.indexOf('<!--', last);
  }
  return last === 0 ? html : out + html.slice(last);
}

const SCRIPT_OPEN = /<(script|style)\b/gi;
const CLOSE = { script: /<\/script\s*>/gi, style: /<\/style\s*>/gi };

/**
 * `html.replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/gi, ' ')` without its quadratic case (many openings
 * that are never closed): once no closing tag of a kind follows some point, later openings of that kind
 * are not searched again.
 */
export function dropScriptsAndStyles(html: string): string {
  if (!/<(?:script|style)\b/i.test(html)) return html;
  /** Per kind: no closing tag at or after this index. */
  const noCloseFrom = { script: Infinity, style: Infinity };
  let out = '';
  let last = 0;
  SCRIPT_OPEN.lastIndex = 0;
  for (let m = SCRIPT_OPEN.exec(html); m !== null; m = SCRIPT_OPEN.exec(html)) {
    const kind = (m[1] ?? '').toLowerCase() === 'style' ? 'style' : 'script';
    const from = m.index + m[0].length;
    if (from >= noCloseFrom[kind]) continue;
    const close = CLOSE[kind];
    close.lastIndex = from;
    const c = close.exec(html);
    if (!c) {
      noCloseFrom[kind] = from;
      continue;
    }
    out += html.slice(last, m.index) + ' ';
    last = c.index + c[0].length;
    SCRIPT_OPEN.lastIndex = last;
  }
  return last === 0 ? html : out + html.slice(last);
}

interface TagBounds {
  nameStart: number;
  nameEnd: number;
  /** Index of the closing '>'; the attributes are [nameEnd, end). */
  end: number;
}

/**
 * The tag starting at src[lt] === '<', matched as <\/?([a-zA-Z][a-zA-Z0-9]*)([^<>]{0,4000})> would match it
 * there, or undefined. A scan of at most MAX_TAG_ATTRS characters, stopping at the next '<' or '>'.
 */
function tagAt(src: string, lt: number): TagBounds | undefined {
  const nameStart = src.charCodeAt(lt + 1) === 47 /* / */ ? lt + 2 : lt + 1;
  if (!isAsciiLetter(src.charCodeAt(nameStart))) return undefined;
  let nameEnd = nameStart + 1;
  while (isAsciiLetter(src.charCodeAt(nameEnd)) || isAsciiDigit(src.charCodeAt(nameEnd))) nameEnd++;
  const limit = Math.min(src.length, nameEnd + MAX_TAG_ATTRS + 1);
  for (let i = nameEnd; i < limit; i++) {
    const c = src.charCodeAt(i);
    if (c === 62 /* > */) return { nameStart, nameEnd, end: i };
    if (c === 60 /* < */) return undefined;
  }
  return undefined;
}

const isAsciiLetter = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
const isAsciiDigit = (c: number): boolean => c >= 48 && c <= 57;
