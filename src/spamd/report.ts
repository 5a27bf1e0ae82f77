// The bodies of SYMBOLS and REPORT: the symbols that hit, comma-separated (as SpamAssassin lists its rule names),
// and a report in SpamAssassin's layout ("Content analysis details: (N points, M required)", then one line per
// symbol: points, name, description and options) that `spamc -R` prints as it is.
import type { Ruleset } from '../scoring/ruleset.ts';
import { formatScore } from './protocol.ts';
import type { Scan } from './judge.ts';

type Scanned = Extract<Scan, { kind: 'scanned' }>;

/** SYMBOLS: the names of the symbols hit, strongest first. */
export function symbolsBody(scan: Scanned): Buffer {
  const names = [...scan.verdict.symbols].sort((a, b) => b.score - a.score || a.symbol.localeCompare(b.symbol)).map((s) => s.symbol);
  return Buffer.from(names.join(','), 'latin1');
}

/** No control characters (options come from the message and from DNS); the text is UTF-8 (descriptions say "§"). */
const printable = (s: string): string => s.replace(/[\x00-\x1f\x7f]/g, '?');

export function reportBody(scan: Scanned, ruleset: Ruleset, hostname: string): Buffer {
  const { verdict } = scan;
  const lines = [
    `Spam detection software, running on the system "${printable(hostname)}",`,
    scan.spam ? 'has identified this incoming email as possible spam.' : 'has judged this incoming email as not spam.',
    `spamgate verdict: ${verdict.action} (decided by ${printable(verdict.decidedBy)}), id=${scan.sessionId}`,
    '',
    `Content analysis details:   (${formatScore(verdict.score)} points, ${formatScore(scan.threshold)} required)`,
    '',
    ' pts rule name              description',
    '---- ---------------------- --------------------------------------------------',
  ];
  const rows = [...verdict.symbols].sort((a, b) => b.score - a.score || a.symbol.localeCompare(b.symbol));
  for (const s of rows) {
    const pts = typeof s.weight === 'number' ? formatScore(s.score) : s.weight;
    const description = printable(ruleset.symbols.get(s.symbol)?.description ?? '');
    lines.push(`${pts.padStart(4)} ${s.symbol.padEnd(22)} ${description}`);
    if (s.options.length) lines.push(`${' '.repeat(28)}[${printable(s.options.slice(0, 10).join(', ')).slice(0, 300)}]`);
  }
  if (!scan.envelope) lines.push('', 'No client address was found in the topmost Received field: the connect, HELO and MAIL checks did not run.');
  return Buffer.from(lines.join('\n') + '\n', 'utf8');
}
