// HTML to plain text for the filter: drops scripts, styles and comments, keeps link targets and image alts.
export interface HtmlText {
  text: string;
  /** href/src targets found, in order (bounded). */
  links: string[];
  /** Count of tags by lower-cased name (bounded to names seen). */
  tags: Map<string, number>;
}

const ENTITIES: Record<string, string> = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', copy: '©', reg: '®', trade: '™',
  euro: '€', pound: '£', yen: '¥', cent: '¢', hellip: '…', mdash: '—', ndash: '–', laquo: '«', raquo: '»',
  rsquo: '’', lsquo: '‘', rdquo: '”', ldquo: '“', bull: '•', middot: '·', shy: '',
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

export function htmlToText(html: string, maxLinks = 200): HtmlText {
  const links: string[] = [];
  const tags = new Map<string, number>();
  const src = html.replace(/<!--[\s\S]*?-->/g, ' ').replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/gi, ' ');
  let out = '';
  let last = 0;
  const tagRe = /<\/?([a-zA-Z][a-zA-Z0-9]*)([^<>]{0,4000})>/g;
  let m: RegExpExecArray | null;
  while ((m = tagRe.exec(src)) !== null) {
    out += src.slice(last, m.index);
    last = tagRe.lastIndex;
    const name = (m[1] ?? '').toLowerCase();
    if (tags.size < 64 || tags.has(name)) tags.set(name, (tags.get(name) ?? 0) + 1);
    const attrs = m[2] ?? '';
    if (attrs) {
      ATTR_LINK.lastIndex = 0;
      let a: RegExpExecArray | null;
      while ((a = ATTR_LINK.exec(attrs)) !== null && links.length < maxLinks) {
        const url = decodeEntities((a[2] ?? a[3] ?? a[4] ?? '').trim());
        if (url) {
          links.push(url);
          // keep the link in the text so body rules and tokens see it next to its anchor
          if ((a[1] ?? '').toLowerCase() === 'href') out += ` ${url} `;
        }
      }
      const alt = ATTR_ALT.exec(attrs);
      if (alt) out += ` ${alt[1] ?? alt[2] ?? ''} `;
    }
    out += BLOCK.has(name) ? '\n' : ' ';
  }
  out += src.slice(last);
  return { text: decodeEntities(out).replace(/[ \t\u00a0]+/g, ' ').replace(/\n\s*\n+/g, '\n').trim(), links, tags };
}
