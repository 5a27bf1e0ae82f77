// Keeps user-written rule regexes (rules/*.yaml) from stalling the event loop by catastrophic backtracking:
// one bad pattern would otherwise hold every SMTP session while it matches a large message. Two layers:
//  1. V8's linear-time regexp engine as a fallback: once a match backtracks excessively, V8 reruns it on its
//     automaton engine, so every pattern that engine can run is bounded by the input length.
//  2. Patterns that engine cannot run (lookaround, backreferences, and in Node 20 the i and u flags) are probed at load on growing
//     adversarial inputs; one whose match time passes a budget is refused, with the probe that showed it.
// The probe is a test, not a proof: it catches the usual shapes ((a+)+, (\w+\s?)+, \d+\d+, .*.*) on runs of
// common characters, of the pattern's own literal characters, and of a short sample of each repeated group.
import v8 from 'node:v8';

let fallbackEnabled = false;

/** Turns on V8's linear-engine fallback (idempotent); regexes compiled afterwards are covered. */
export function enableBacktrackFallback(): void {
  if (fallbackEnabled) return;
  fallbackEnabled = true;
  v8.setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');
  // Only makes the 'l' flag known, so runsInLinearTime can ask the engine; user patterns cannot carry it.
  v8.setFlagsFromString('--enable-experimental-regexp-engine');
}

/** Whether V8's linear engine accepts the pattern (and so the fallback bounds it). */
export function runsInLinearTime(re: RegExp): boolean {
  enableBacktrackFallback();
  try {
    new RegExp(re.source, re.flags.replace(/[gy]/g, '') + 'l');
    return true;
  } catch {
    return false;
  }
}

const COMMON_UNITS = ['a', 'A', '0', ' ', '\t', '\n', '.', '-', '_', '@', '/', '<', '=', '%', 'é', 'ab', 'a ', 'a1', 'a.', 'a-', 'aA', '0.', 'word ', 'a\n', '\r\n'];
const ENDINGS = ['', '!', '\u0000'];
/** Small steps first, where exponential patterns blow up; then doubling, where polynomial ones do. */
const SIZES = [8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192];
/** Per match on at most 8 KiB of probe: a sane pattern needs well under a millisecond. */
const PROBE_BUDGET_MS = 25;
const MAX_OWN_UNITS = 24;

function ownUnits(source: string): string[] {
  const literal = source.replace(/\\[a-zA-Z]|[\\^$.|?*+()[\]{}]/g, '');
  return [...new Set(literal)].slice(0, MAX_OWN_UNITS);
}

/** Repeated groups looked at, and the longest sample searched for each (brute force over a small alphabet). */
const MAX_GROUPS = 12;
const MAX_SAMPLE = 3;

/**
 * Bodies of the pattern's repeated groups: "(…)" followed by +, * or {n,}. Runs of one character cannot
 * show a repeat of several, such as (?:=[0-9a-f]{2})+(?:=[0-9a-f]{2})+ (cubic on "=41=41…").
 */
export function repeatedGroups(source: string): string[] {
  const bodies: string[] = [];
  const open: number[] = [];
  let inClass = false;
  for (let i = 0; i < source.length && bodies.length < MAX_GROUPS; i++) {
    const c = source[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === '(') open.push(i);
    else if (c === ')') {
      const start = open.pop();
      const next = source[i + 1];
      if (start !== undefined && (next === '+' || next === '*' || next === '{')) {
        bodies.push(source.slice(start + 1, i).replace(/^\?(?::|<[A-Za-z_$][\w$]*>)/, ''));
      }
    }
  }
  return bodies;
}

/** A short string the group body matches whole, from the pattern's own characters and a few common ones. */
function sampleOf(body: string, flags: string, alphabet: readonly string[]): string | undefined {
  let whole: RegExp;
  try {
    whole = new RegExp(`^(?:${body})$`, flags.replace(/[gy]/g, ''));
  } catch {
    return undefined; // a lookbehind or a reference to a group outside the body
  }
  let level = [''];
  for (let len = 1; len <= MAX_SAMPLE; len++) {
    const next: string[] = [];
    for (const prefix of level) {
      for (const c of alphabet) {
        const candidate = prefix + c;
        if (whole.test(candidate)) return candidate;
        next.push(candidate);
      }
    }
    level = next;
  }
  return undefined;
}

/** Multi-character units: one sample per repeated group of the pattern. */
function groupUnits(re: RegExp): string[] {
  const alphabet = [...new Set([...ownUnits(re.source), 'a', 'A', '0', ' ', '.', '-', '='])];
  const out: string[] = [];
  for (const body of repeatedGroups(re.source)) {
    const sample = sampleOf(body, re.flags, alphabet);
    if (sample !== undefined && sample.length > 1 && !out.includes(sample)) out.push(sample);
  }
  return out;
}

function matchMs(re: RegExp, input: string): number {
  const started = performance.now();
  re.test(input);
  return performance.now() - started;
}

/** Verdicts by pattern, so a reload probes only new or changed patterns; bounded like any cache here. */
const verdicts = new Map<string, string | undefined>();
const MAX_VERDICTS = 10_000;

/**
 * Undefined when the pattern is bounded; otherwise a sentence saying which probe took how long.
 * Costs about 15 ms the first time for a pattern the linear engine cannot run, nothing for the others.
 */
export function backtrackingHazard(re: RegExp): string | undefined {
  if (runsInLinearTime(re)) return undefined;
  const key = `/${re.source}/${re.flags}`;
  if (verdicts.has(key)) return verdicts.get(key);
  const verdict = probe(re);
  if (verdicts.size >= MAX_VERDICTS) verdicts.clear();
  verdicts.set(key, verdict);
  return verdict;
}

function probe(re: RegExp): string | undefined {
  const subject = new RegExp(re.source, re.flags.replace(/[gy]/g, ''));
  for (const unit of [...COMMON_UNITS, ...ownUnits(re.source), ...groupUnits(re)]) {
    for (const ending of ENDINGS) {
      for (const size of SIZES) {
        const input = unit.repeat(Math.ceil(size / unit.length)) + ending;
        // a second run rules out a pause that was not the pattern's doing (garbage collection, a busy machine)
        if (matchMs(subject, input) > PROBE_BUDGET_MS && matchMs(subject, input) > PROBE_BUDGET_MS) {
          return `backtracks catastrophically: over ${PROBE_BUDGET_MS} ms on ${input.length} characters of ${JSON.stringify(unit)}${ending ? ` then ${JSON.stringify(ending)}` : ''}; ` +
            'rewrite nested or overlapping repeats such as (a+)+, (\\w+\\s?)+ or \\d+\\d+';
        }
      }
    }
  }
  return undefined;
}
