// Quoted-string local parts (RFC 5321 §4.1.2) through smtp-server's path parser, which splits the
// command on white space and the address on "@", and refuses a local part with a dot at either end or
// two dots in a row (rules of the Dot-string, not of the Quoted-string): inside the quotes these are
// hidden behind private-use stand-ins for the parse and given back in the parsed address.
const SPACE = '\uE000';
const AT = '\uE001';
const DOT = '\uE002';
const STAND_IN: Readonly<Record<string, string>> = { ' ': SPACE, '@': AT, '.': DOT };

/**
 * The command with spaces and "@" inside a quoted local part replaced by stand-ins, or undefined
 * when there is nothing to hide (or the command already holds a stand-in, so nothing is mistaken).
 */
export function hideQuoted(command: string): string | undefined {
  if (command.includes(SPACE) || command.includes(AT) || command.includes(DOT)) return undefined;
  const open = command.indexOf('<"');
  if (open < 0) return undefined;
  let out = command.slice(0, open + 2);
  let changed = false;
  // Bounded by the command: every turn consumes at least one character.
  for (let i = open + 2; i < command.length; i++) {
    const ch = command[i] ?? '';
    if (ch === '\\' && i + 1 < command.length) {
      out += ch + (command[i + 1] ?? '');
      i++;
      continue;
    }
    if (ch === '"') return changed ? out + command.slice(i) : undefined;
    const standIn = STAND_IN[ch];
    if (standIn !== undefined) changed = true;
    out += standIn ?? ch;
  }
  return undefined; // no closing quote: let the parser refuse it as written
}

/** The parsed address with the stand-ins turned back into what the client wrote. */
export function revealQuoted(address: string): string {
  return address.replaceAll(SPACE, ' ').replaceAll(AT, '@').replaceAll(DOT, '.');
}
