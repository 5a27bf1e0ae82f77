// RFC 6856 §3 LANG: the languages of the server's response texts. spamgate answers in English only, so the listing has
// one entry and only "en" (or "*", the server's default) can be chosen.

/** The reply to LANG with its argument ('' lists the languages). */
export function langCommand(arg: string): string {
  if (arg === '') return '+OK language listing follows\r\nen English\r\n.';
  // RFC 6856 §3: "*" asks for the server's default; a tag is matched case-insensitively (RFC 5646 §2.1.1), "en-GB" falling back to "en" (RFC 4647 §3.4 lookup)
  if (arg === '*' || /^en(?:-[a-z0-9]{1,8})*$/i.test(arg)) return '+OK en English';
  return '-ERR invalid language ' + arg.replace(/[^\x21-\x7e]/g, '?').slice(0, 40);
}
