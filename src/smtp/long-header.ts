// Line length of message text: RFC 5322 §2.1.1 "Each line of characters MUST be no more than 998 characters ...
// excluding the CRLF" (RFC 5321 §4.5.3.1.6: a text line is at most 1000 octets with its CRLF). Finds such lines,
// and folds a header line over the limit at white space as RFC 5322 §2.2.3 allows ("CRLF" before a WSP), which
// unfolding (and DKIM's relaxed canonicalization) undoes. A line with no white space to fold at cannot be helped.

/** RFC 5322 §2.1.1: octets a line may hold, its CRLF not counted. */
export const MAX_LINE_OCTETS = 998;
/** RFC 5322 §2.1.1: lines SHOULD be no more than 78 characters; folds aim for this width. */
const PREFERRED_WIDTH = 78;

/** Whether some line of `text` (a "binary" string, one char per octet, lines ending in CRLF) exceeds 998 octets. */
export function hasLongLine(text: string): boolean {
  if (text.length <= MAX_LINE_OCTETS) return false;
  let start = 0;
  for (;;) {
    const end = text.indexOf('\r\n', start);
    if ((end < 0 ? text.length : end) - start > MAX_LINE_OCTETS) return true;
    if (end < 0) return false;
    start = end + 2;
  }
}

/** The longest line of `text` in octets, CRLF not counted (for diagnostics). */
export function longestLine(text: string): number {
  let longest = 0;
  let start = 0;
  for (;;) {
    const end = text.indexOf('\r\n', start);
    longest = Math.max(longest, (end < 0 ? text.length : end) - start);
    if (end < 0) return longest;
    start = end + 2;
  }
}

/**
 * The header block (no final blank line) with every line over 998 octets folded at white space, each piece
 * within 78 octets where a fold point allows, always within 998; or why it cannot be (a field with no white
 * space to fold at). Lines within the limit are kept byte for byte.
 */
export function foldLongHeaderLines(head: string): string | { refused: string } {
  if (!hasLongLine(head)) return head;
  const out: string[] = [];
  let field = '';
  for (const line of head.split('\r\n')) {
    if (!line.startsWith(' ') && !line.startsWith('\t')) field = line.slice(0, Math.max(0, line.indexOf(':'))).slice(0, 60);
    if (line.length <= MAX_LINE_OCTETS) {
      out.push(line);
      continue;
    }
    const folded = foldLine(line);
    if (folded === undefined) {
      return { refused: `header field ${field ? `"${field}" ` : ''}has a line of ${line.length} octets and no white space to fold it at (RFC 5322 section 2.1.1 allows 998)` };
    }
    // one at a time: a spread of a 20 MB line's hundreds of thousands of pieces overflows the call stack
    for (const piece of folded) out.push(piece);
  }
  return out.join('\r\n');
}

const isWsp = (c: number): boolean => c === 32 || c === 9;

/**
 * One physical line cut before white space into pieces of at most 998 octets, and of 78 where white space allows. A cut goes only where white space
 * follows a non-space (the piece before it has text) and text follows later (RFC 5322 §3.2.2: a folded line is
 * never white space alone). Undefined when no such cut exists in some 998-octet stretch.
 */
function foldLine(line: string): string[] | undefined {
  let last = line.length - 1;
  while (last >= 0 && isWsp(line.charCodeAt(last))) last--;
  const pieces: string[] = [];
  let rest = line;
  let lastInRest = last;
  while (rest.length > PREFERRED_WIDTH) {
    const cut = cutPoint(rest, PREFERRED_WIDTH, lastInRest) ?? (rest.length > MAX_LINE_OCTETS ? cutPoint(rest, MAX_LINE_OCTETS, lastInRest) : undefined);
    if (cut === undefined) {
      if (rest.length > MAX_LINE_OCTETS) return undefined;
      break;
    }
    pieces.push(rest.slice(0, cut));
    rest = rest.slice(cut);
    lastInRest -= cut;
  }
  pieces.push(rest);
  return pieces;
}

/** The last index within `width` where white space follows a non-space and text follows before `lastText`. */
function cutPoint(line: string, width: number, lastText: number): number | undefined {
  for (let i = Math.min(width, line.length - 1, lastText - 1); i >= 1; i--) {
    if (isWsp(line.charCodeAt(i)) && !isWsp(line.charCodeAt(i - 1))) return i;
  }
  return undefined;
}
