// Cutting a header value at a separator that stands outside quoted strings (RFC 5322 §3.2.4: inside one, `\`
// quotes the next character): a MIME parameter list at ';', an address list at ','. A `\` outside a quoted string
// (invalid: it is a tspecial, RFC 2045 §5.1) also takes the next character with it, so `x=a\"; boundary="b"` keeps
// its boundary, as a lenient mail reader finds it: the filter must not see one part where a reader sees several.

export function splitUnquoted(value: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string;
    if (c === '\\' && i + 1 < value.length) {
      current += c + (value[++i] as string);
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === separator && !quoted) {
      parts.push(current);
      current = '';
    } else current += c;
  }
  parts.push(current);
  return parts;
}
