// Sieve executor (RFC 5228 §2.10): runs a compiled script against one message and gives the actions to take,
// with the implicit keep (§2.10.2) unless an action cancelled it, `stop`, imap4flags' internal flags
// (RFC 5232 §3), variables (RFC 5229), body (RFC 5173), reject (RFC 5429), vacation (RFC 5230) and bounds on
// steps (bytes of body scanned count too), actions and redirects. Takes no action itself.
import { normalizeMailbox } from '../store/maildir-names.ts';
import { addFlags, normalizeFlags, removeFlags } from './flags.ts';
import { anyMatches, matchVariables } from './match.ts';
import { addressPart, type SieveMessage } from './message.ts';
import { isRedirectAddress, type CompiledScript, type Match, type SieveCommand, type SieveTest, type VacationArgs } from './script.ts';
import { fromAddress } from './vacation-args.ts';
import { applyModifiers, MAX_VARIABLES, Variables } from './variables.ts';

export type SieveAction =
  /** File into the user's default place (INBOX, or Junk for a message the filter judged junk). */
  | { kind: 'keep'; implicit: boolean; flags: string[] }
  | { kind: 'fileinto'; folder: string; flags: string[] }
  | { kind: 'redirect'; address: string }
  | { kind: 'discard' }
  /** Not delivered; the sender is told why (RFC 5429 §2.1). */
  | { kind: 'reject'; reason: string; extended: boolean }
  | VacationAction;

/** A vacation reply to send (RFC 5230 §4), variables expanded; the delivery decides whether it may go (§4.5, §4.6). */
export interface VacationAction extends Omit<VacationArgs, 'days'> {
  kind: 'vacation';
  /** Within [MIN_VACATION_DAYS, MAX_VACATION_DAYS]. */
  days: number;
}

/** RFC 5230 §4.1: sites may bound :days; a value outside is taken as the nearest bound. */
export const MIN_VACATION_DAYS = 1;
export const MAX_VACATION_DAYS = 365;
/** RFC 5230 §4.1: the default :days. */
export const DEFAULT_VACATION_DAYS = 7;

export type SieveOutcome = { ok: true; actions: SieveAction[] } | { ok: false; error: string; line: number };

export interface SieveLimits {
  /** Commands, tests and single comparisons one run may make. */
  maxSteps: number;
  /** Actions (keep, fileinto, redirect, discard) one run may take. */
  maxActions: number;
  /** Redirects one run may make (a guard against a script that forwards mail in bulk or in loops). */
  maxRedirects: number;
}

/** Bytes of body decoded that cost one step (the same unit as a comparison's characters). */
const BODY_BYTES_PER_STEP = 10_000;

export const DEFAULT_LIMITS: SieveLimits = { maxSteps: 10_000, maxActions: 32, maxRedirects: 4 };

class SieveRuntimeError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
  }
}

export function executeSieve(script: CompiledScript, msg: SieveMessage, limits: SieveLimits = DEFAULT_LIMITS): SieveOutcome {
  let steps = 0;
  let line = 0;
  let flags: string[] = [];
  let implicitKeep = true;
  let redirects = 0;
  const actions: SieveAction[] = [];
  const vars = script.extensions.includes('variables') ? new Variables() : undefined;
  /** A string as the script means it now: variables expanded (RFC 5229 §3), when the script uses them. */
  const x = (s: string): string => (vars ? vars.expand(s) : s);
  const xs = (list: readonly string[]): string[] => list.map(x);
  /** Matches, leaving the match variables of a successful :matches (RFC 5229 §3.2). */
  const holdsExpanded = (values: readonly string[], keys: readonly string[], m: Match): boolean =>
    anyMatches(values, keys, m, step, vars && m.match === 'matches' ? (v, k) => vars.setMatched(matchVariables(v, k, m.comparator)) : undefined);
  const holds = (values: readonly string[], keys: readonly string[], m: Match): boolean => holdsExpanded(values, xs(keys), m);
  const step = (cost = 1): void => {
    steps += cost;
    if (steps > limits.maxSteps) throw new SieveRuntimeError(`more than ${limits.maxSteps} steps`, line);
  };
  const act = (a: SieveAction): void => {
    // RFC 5429 §2: reject and ereject exclude keep, fileinto, redirect, vacation and another reject; and one
    // vacation per run here. Found at run time: an error, so the message is kept (RFC 5228 §2.10.6)
    const clash = (b: SieveAction): boolean =>
      a.kind === 'reject' ? b.kind === 'reject' || b.kind === 'keep' || b.kind === 'fileinto' || b.kind === 'redirect' || b.kind === 'vacation' : b.kind === 'reject' && (a.kind === 'keep' || a.kind === 'fileinto' || a.kind === 'redirect' || a.kind === 'vacation');
    const other = actions.find(clash);
    if (other) throw new SieveRuntimeError(`${a.kind} cannot be combined with ${other.kind} (RFC 5429)`, line);
    if (a.kind === 'vacation' && actions.some((b) => b.kind === 'vacation')) throw new SieveRuntimeError('vacation more than once', line);
    // RFC 5228 §2.10.3: the same mailbox or address once, however often the script asks
    const same = actions.find((b) => b.kind === a.kind && (a.kind === 'fileinto' ? b.kind === 'fileinto' && b.folder === a.folder : a.kind === 'redirect' ? b.kind === 'redirect' && b.address.toLowerCase() === a.address.toLowerCase() : true));
    if (same) {
      // one copy of a mailbox, with the flags of every keep or fileinto of it merged: a later :flags adds to the
      // earlier ones rather than being lost (RFC 5232 leaves the choice; a union loses no flag a user asked for)
      if ((same.kind === 'keep' || same.kind === 'fileinto') && (a.kind === 'keep' || a.kind === 'fileinto')) same.flags = normalizeFlags([...same.flags, ...a.flags]);
      return;
    }
    if (actions.length >= limits.maxActions) throw new SieveRuntimeError(`more than ${limits.maxActions} actions`, line);
    if (a.kind === 'redirect' && ++redirects > limits.maxRedirects) throw new SieveRuntimeError(`more than ${limits.maxRedirects} redirects`, line);
    actions.push(a);
  };

  const test = (t: SieveTest): boolean => {
    step();
    switch (t.kind) {
      case 'true':
        return true;
      case 'false':
        return false;
      case 'not':
        return !test(t.test);
      case 'allof':
        return t.tests.every(test);
      case 'anyof':
        return t.tests.some(test);
      case 'size':
        // RFC 5228 §5.9: strictly over or under
        return t.over ? msg.size > t.limit : msg.size < t.limit;
      case 'exists':
        return xs(t.headers).every((h) => msg.header(h.toLowerCase()).length > 0);
      case 'header':
        return holds(xs(t.headers).flatMap((h) => msg.header(h.toLowerCase())), t.keys, t);
      case 'address':
        return holds(xs(t.headers).flatMap((h) => msg.addresses(h.toLowerCase())).flatMap((a) => addressPart(a, t.part) ?? []), t.keys, t);
      case 'envelope': {
        // RFC 5228 §5.4: the null reverse path is the empty string, compared as such
        const values = t.fields.map((f) => (f === 'from' ? msg.envelope.from : msg.envelope.to)).flatMap((a) => (a === '' ? '' : (addressPart(a, t.part) ?? [])));
        // RFC 5231 §4.2: :count counts addresses, and the null reverse path is none
        return holds(t.match === 'count' ? values.filter((v) => v !== '') : values, t.keys, t);
      }
      case 'hasflag': {
        // RFC 5232 §5: the flags of the named variables, or the internal variable when none is named
        const have = t.variables.length ? normalizeFlags(t.variables.map(flagsVar)) : flags;
        // RFC 5232 §4: each key is a space-separated list of flags ("b A" is ["b", "A"]); empty ones name none
        return holdsExpanded(have, xs(t.keys).flatMap((k) => k.split(' ')).filter((k) => k !== ''), t);
      }
      case 'string':
        // RFC 5229 §5: with :count, empty strings are not counted
        return holds(t.match === 'count' ? xs(t.sources).filter((v) => v !== '') : xs(t.sources), t.keys, t);
      case 'spamtest': {
        // RFC 5235 §3.2.1, §3.2.2: "0" when not tested (with :percent, 0 is also "tested, no spam"); :count
        // counts a result, so it is 0 only when not tested (§3.2 example: `:percent :count "eq" "0"`)
        const spam = msg.verdict.spam;
        if (t.match === 'count') return holds(spam ? ['1'] : [], [t.key], t);
        return holds([String(spam ? (t.percent ? spam.percent : spam.value) : 0)], [t.key], t);
      }
      case 'virustest':
        // RFC 5235 §3.3: "0" when not tested; :count as for spamtest
        if (t.match === 'count') return holds(msg.verdict.virus !== undefined ? ['1'] : [], [t.key], t);
        return holds([String(msg.verdict.virus ?? 0)], [t.key], t);
      case 'body': {
        const { values, scanned } = msg.body(t.transform);
        // RFC 5173 §6: the body is costly to read; the bytes decoded count toward the step bound
        step(Math.floor(scanned / BODY_BYTES_PER_STEP));
        return holds(values, t.keys, t);
      }
    }
  };
  /** The flags a variable holds (RFC 5232 §3: a space-separated list). */
  const flagsVar = (name: string): string => (vars ? vars.get(name) : '');
  /** Sets the internal variable or the named one. */
  const setFlags = (variable: string | undefined, next: (current: string[]) => string[]): void => {
    if (variable === undefined) flags = next(flags);
    else if (!vars?.set(variable, next(normalizeFlags([flagsVar(variable)])).join(' '))) throw new SieveRuntimeError(`more than ${MAX_VARIABLES} variables`, line);
  };

  /** A folder or address only known at run time is checked here: a bad one is a run-time error (RFC 5228 §2.10.6). */
  const folderOf = (folder: string): string => {
    try {
      return normalizeMailbox(x(folder));
    } catch (err) {
      throw new SieveRuntimeError(`fileinto: ${(err as Error).message}`, line);
    }
  };
  const addressOf = (address: string): string => {
    const a = x(address);
    if (!isRedirectAddress(a)) throw new SieveRuntimeError(`redirect: invalid address ${JSON.stringify(a.slice(0, 100))}`, line);
    return a;
  };

  /** False when `stop` ended the script. */
  const run = (commands: readonly SieveCommand[]): boolean => {
    for (const c of commands) {
      line = c.line;
      step();
      switch (c.kind) {
        case 'if': {
          const branch = c.branches.find((b) => b.test === undefined || test(b.test));
          if (branch && !run(branch.body)) return false;
          break;
        }
        case 'stop':
          return false;
        case 'keep':
          act({ kind: 'keep', implicit: false, flags: c.flags ? normalizeFlags(xs(c.flags)) : flags });
          break;
        case 'discard':
          // RFC 5228 §4.4: discard cancels the implicit keep, nothing else
          implicitKeep = false;
          act({ kind: 'discard' });
          break;
        case 'fileinto':
          act({ kind: 'fileinto', folder: folderOf(c.folder), flags: c.flags ? normalizeFlags(xs(c.flags)) : flags });
          // RFC 3894 §3: with :copy the implicit keep stays
          if (!c.copy) implicitKeep = false;
          break;
        case 'redirect':
          act({ kind: 'redirect', address: addressOf(c.address) });
          if (!c.copy) implicitKeep = false;
          break;
        case 'setflag':
          setFlags(c.variable, () => normalizeFlags(xs(c.flags)));
          break;
        case 'addflag':
          setFlags(c.variable, (current) => addFlags(current, xs(c.flags)));
          break;
        case 'removeflag':
          setFlags(c.variable, (current) => removeFlags(current, xs(c.flags)));
          break;
        case 'reject':
          // RFC 5429 §2.1: reject cancels the implicit keep
          act({ kind: 'reject', reason: x(c.reason), extended: c.extended });
          implicitKeep = false;
          break;
        case 'vacation': {
          const from = c.from !== undefined ? x(c.from) : undefined;
          // RFC 5230 §4.3: a :from that is not a valid address is an error
          if (from !== undefined && !isRedirectAddress(fromAddress(from))) throw new SieveRuntimeError(`vacation :from: invalid address ${JSON.stringify(from.slice(0, 100))}`, line);
          const days = Math.min(MAX_VACATION_DAYS, Math.max(MIN_VACATION_DAYS, c.days ?? DEFAULT_VACATION_DAYS));
          act({
            kind: 'vacation',
            days,
            ...(c.subject !== undefined ? { subject: x(c.subject) } : {}),
            ...(from !== undefined ? { from } : {}),
            addresses: xs(c.addresses),
            mime: c.mime,
            ...(c.handle !== undefined ? { handle: x(c.handle) } : {}),
            reason: x(c.reason),
          });
          break;
        }
        case 'set':
          if (!vars?.set(c.name, applyModifiers(x(c.value), c.modifiers))) throw new SieveRuntimeError(`more than ${MAX_VARIABLES} variables`, line);
          break;
      }
    }
    return true;
  };

  try {
    run(script.commands);
    // RFC 5228 §2.10.2: the implicit keep, unless an action cancelled it; an explicit keep stands for it
    if (implicitKeep && !actions.some((a) => a.kind === 'keep')) actions.push({ kind: 'keep', implicit: true, flags });
    return { ok: true, actions };
  } catch (err) {
    if (err instanceof SieveRuntimeError) return { ok: false, error: err.message, line: err.line };
    throw err;
  }
}
