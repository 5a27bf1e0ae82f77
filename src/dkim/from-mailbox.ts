// The one mailbox of a From field, read strictly by RFC 5322 §3.4 (mailbox = name-addr / addr-spec), or nothing.
// A signature vouches for the From its receivers read, and mail programs disagree on a field that is not
// valid: `ceo@example.com <me@example.com>` is me@ to nodemailer's parser and ceo@ to others (the display
// name may not hold a bare "@", RFC 5322 §3.2.3 atext). A message is signed only when its From has a single
// reading: one mailbox, no group, nothing unterminated, nothing after the address.

type Token = { kind: 'atom'; text: string } | { kind: 'quoted'; text: string } | { kind: 'special'; text: string };

/** atext (RFC 5322 §3.2.3), with UTF-8 beyond ASCII (RFC 6532 §3.2). */
const ATEXT = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\u{10FFFF}]$/u;
const MAX_COMMENT_DEPTH = 10;

/** The tokens of `value` with comments and folding whitespace dropped (RFC 5322 §3.2.2 CFWS), or undefined if it does not tokenize. */
function tokenize(value: string): Token[] | undefined {
  const tokens: Token[] = [];
  const chars = [...value];
  let i = 0;
  while (i < chars.length) {
    const c = chars[i] ?? '';
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      i++;
    } else if (c === '(') {
      let depth = 0;
      for (; i < chars.length; i++) {
        const d = chars[i];
        if (d === '\\') i++;
        else if (d === '(' && ++depth > MAX_COMMENT_DEPTH) return undefined;
        else if (d === ')' && --depth === 0) break;
      }
      if (depth !== 0) return undefined;
      i++;
    } else if (c === '"') {
      let text = '"';
      let closed = false;
      for (i++; i < chars.length; i++) {
        const d = chars[i] ?? '';
        text += d;
        if (d === '\\') text += chars[++i] ?? '';
        else if (d === '"') {
          closed = true;
          break;
        }
      }
      if (!closed) return undefined;
      tokens.push({ kind: 'quoted', text });
      i++;
    } else if (ATEXT.test(c)) {
      let text = '';
      while (i < chars.length && ATEXT.test(chars[i] ?? '')) text += chars[i++];
      tokens.push({ kind: 'atom', text });
    } else if ('<>@.,;:[]\\)'.includes(c)) {
      tokens.push({ kind: 'special', text: c });
      i++;
    } else {
      return undefined;
    }
  }
  return tokens;
}

const isWord = (t: Token | undefined): boolean => t?.kind === 'atom' || t?.kind === 'quoted';
const isSpecial = (t: Token | undefined, s: string): boolean => t?.kind === 'special' && t.text === s;

/** addr-spec = local-part "@" domain (dot-atom or obs-local-part; no domain literal): the address, or undefined. */
function addrSpec(tokens: Token[]): string | undefined {
  const at = tokens.findIndex((t) => isSpecial(t, '@'));
  if (at < 1) return undefined;
  const dotted = (part: Token[], words: (t: Token | undefined) => boolean): string | undefined => {
    if (part.length === 0 || part.length % 2 === 0) return undefined;
    for (let k = 0; k < part.length; k++) if (k % 2 === 0 ? !words(part[k]) : !isSpecial(part[k], '.')) return undefined;
    return part.map((t) => t.text).join('');
  };
  const local = dotted(tokens.slice(0, at), isWord);
  const domain = dotted(tokens.slice(at + 1), (t) => t?.kind === 'atom');
  return local === undefined || domain === undefined ? undefined : `${local}@${domain}`;
}

/**
 * The addr-spec of `value` when it is exactly one RFC 5322 mailbox: `addr-spec`, `<addr-spec>` or
 * `phrase <addr-spec>` (the phrase words and dots of obs-phrase, §4.1; encoded words are atoms). Otherwise undefined.
 */
export function strictSingleMailbox(value: string): string | undefined {
  const tokens = tokenize(value);
  if (!tokens || tokens.length === 0) return undefined;
  const open = tokens.findIndex((t) => isSpecial(t, '<'));
  if (open < 0) return addrSpec(tokens);
  const close = tokens.length - 1;
  if (!isSpecial(tokens[close], '>')) return undefined;
  const phrase = tokens.slice(0, open);
  if (phrase.length > 0 && (!isWord(phrase[0]) || !phrase.every((t) => isWord(t) || isSpecial(t, '.')))) return undefined;
  return addrSpec(tokens.slice(open + 1, close));
}
