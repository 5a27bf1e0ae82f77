// Sub-addresses (RFC 5233 §1 "user+detail"): the address a tagged one stands for, cut as the mail host cuts it
// (src/mailhost/aliases.ts), for lookups keyed by a user's plain address (threshold overrides, digest grouping).

/**
 * `address` without its sub-address: the local part cut at the first `delimiter` character (`alice+news@x` →
 * `alice@x`). Undefined when there is nothing to cut: no delimiter ('' turns sub-addressing off), none in the local
 * part, a local part that starts with it (no user part is left, as the mail host sees it), or a quoted local part
 * (`"a b+c"@x`, which needs its quotes: cutting inside them would make a different, unbalanced address). The case
 * is kept: the caller compares as it compares the address.
 */
export function withoutSubaddress(address: string, delimiter: string): string | undefined {
  if (delimiter === '') return undefined;
  const at = address.lastIndexOf('@');
  if (at <= 0) return undefined;
  const local = address.slice(0, at);
  if (local.startsWith('"')) return undefined;
  const cut = local.indexOf(delimiter);
  return cut > 0 ? `${local.slice(0, cut)}${address.slice(at)}` : undefined;
}
