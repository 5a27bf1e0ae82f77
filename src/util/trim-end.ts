// The end of a text without a run of certain characters at its end, found by a loop. A regex such as
// /[ \t]+$/ or /\.+$/ tries the run at each of its positions before failing at the next other character:
// quadratic in the run's length, so a line of 100,000 spaces and one letter takes seconds.

const LINE_BREAK = (c: number): boolean => c === 10 || c === 13;
const BLANK = (c: number): boolean => c === 32 || c === 9 || c === 13;
const DOT = (c: number): boolean => c === 46;

function endWithout(text: string, trimmed: (code: number) => boolean): number {
  let end = text.length;
  while (end > 0 && trimmed(text.charCodeAt(end - 1))) end--;
  return end;
}

/** Without the CRs and LFs at its end. */
export const withoutFinalLineBreaks = (text: string): string => text.slice(0, endWithout(text, LINE_BREAK));
/** Without the spaces, tabs and CRs at its end. */
export const withoutFinalBlanks = (text: string): string => text.slice(0, endWithout(text, BLANK));
/** Without the dots at its end. */
export const withoutFinalDots = (text: string): string => text.slice(0, endWithout(text, DOT));
/** Without any of `chars` at its end. */
export const withoutFinalOf = (text: string, chars: string): string => text.slice(0, endWithout(text, (c) => chars.includes(String.fromCharCode(c))));
