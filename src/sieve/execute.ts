// Sieve executor (RFC 5228 §2.10): runs a compiled script against one message and gives the actions to take,
// with the implicit keep (§2.10.2) unless an action cancelled it, `stop`, imap4flags' internal flags
// (RFC 5232 §3), variables (RFC 5229), body (RFC 5173), reject (RFC 5429), vacation (RFC 5230) and bounds on
// steps (bytes of body scanned count too), actions and redirects; and the newer extensions: subaddress (RFC 5233),
// mailbox (RFC 5490), date and index (RFC 5260), vacation-seconds (RFC 6131), environment (RFC 5183), duplicate
// (RFC 7352) and special-use (RFC 8579), over what the context (context.ts) knows. Takes no action itself.
import { createHash } from 'node:crypto';
import { normalizeMailbox } from '../store/maildir-names.ts';
import { DEFAULT_DUPLICATE_SECONDS, MAX_DUPLICATE_SECONDS, plainContext, type SieveContext } from './context.ts';
import { datePart, localOffset, parseDateTime, zoneOffset, type ZonedDate } from './dates.ts';
import { addFlags, normalizeFlags, removeFlags } from './flags.ts';
import { anyMatches, matchVariables } from './match.ts';
import { addressPart, type SieveMessage } from './message.ts';
import { DATE_PARTS, isRedirectAddress, type CompiledScript, type DatePart, type DateZone, type FieldIndex, type Match, type SieveCommand, type SieveTest, type VacationArgs } from './script.ts';
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
/**
 * RFC 6131 §2: sites may bound :seconds. Below a minute a reply loop with another auto-responder would run
 * fast, so 0 to 59 are taken as 60 (as Dovecot and Cyrus also impose a minimum); above, the :days bound.
 */
export const MIN_VACATION_SECONDS = 60;

/** A unique id a duplicate test saw: recorded when the message was delivered (RFC 7352 §3). */
export interface DuplicateRecord {
  handle: string;
  id: string;
  seconds: number;
  /** :last: the period starts again at each message (RFC 7352 §3.4). */
  last: boolean;
}

export type SieveOutcome = { ok: true; actions: SieveAction[]; duplicates: DuplicateRecord[] } | { ok: false; error: string; line: number };

export interface SieveLimits {
  /** Commands, tests and single comparisons one run may make. */
  maxSteps: number;
  /** Actions (keep, fileinto, redirect, discard) one run may take. */
  maxActions: number;
  /** Redirects one run may make (a guard against a script that forwards mail in bulk or in loops). */
  maxRedirects: number;
}

/** Values a test looks at that cost one step (besides the steps of comparing them). */
const VALUES_PER_STEP = 10;

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

/** RFC 5228 §2.4.2.2: a header field name (printable US-ASCII but ':'). */
const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]+$/;

/**
 * RFC 7352 §3: ids longer than this are kept as their hash (bounded memory); cutting them would make two ids that
 * share their first characters one, a false duplicate the RFC forbids.
 */
const MAX_DUPLICATE_ID = 1000;

/** RFC 5260 §6: the field :index picks (from the end with :last); all of them without :index. */
function pick<T>(list: readonly T[], index: FieldIndex | undefined): T[] {
  if (!index) return [...list];
  const v = list[index.last ? list.length - index.n : index.n - 1];
  return v === undefined ? [] : [v];
}

export function executeSieve(script: CompiledScript, msg: SieveMessage, limits: SieveLimits = DEFAULT_LIMITS, ctx: SieveContext = plainContext()): SieveOutcome {
  let steps = 0;
  const duplicates: DuplicateRecord[] = [];
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
  const holdsExpanded = (values: readonly string[], keys: readonly string[], m: Match): boolean => {
    // the values were made (an address cut into its parts, …) whether or not each is compared: :count compares only
    // their number and a first match ends the comparisons, so the making costs steps too
    step(Math.floor(values.length / VALUES_PER_STEP));
    return anyMatches(values, keys, m, step, vars && m.match === 'matches' ? (v, k) => vars.setMatched(matchVariables(v, k, m.comparator)) : undefined);
  };
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
        return holds(xs(t.headers).flatMap((h) => pick(msg.header(h.toLowerCase()), t.index)), t.keys, t);
      case 'address':
        return holds(xs(t.headers).flatMap((h) => pick(msg.addressFields(h.toLowerCase()), t.index).flat()).flatMap((a) => addressPart(a, t.part, ctx.subaddressDelimiter) ?? []), t.keys, t);
      case 'envelope': {
        // RFC 5228 §5.4: the null reverse path is the empty string, compared as such
        const values = t.fields.map((f) => (f === 'from' ? msg.envelope.from : msg.envelope.to)).flatMap((a) => (a === '' ? '' : (addressPart(a, t.part, ctx.subaddressDelimiter) ?? [])));
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
      case 'date': {
        // RFC 5260 §4: a field that is not a date is passed over; none left, the test fails
        const name = x(t.header).toLowerCase();
        // §4: a Received field's date is after its last semicolon (RFC 5322 §3.6.7)
        const fields = pick(msg.header(name), t.index);
        // parsing a field costs a step, a date or not: fields that are no dates are compared with nothing, so
        // would cost nothing, and a script of many date tests over a message of many fields ran unbounded
        step(fields.length);
        const dates = fields.flatMap((v) => parseDateTime(name === 'received' ? v.slice(v.lastIndexOf(';') + 1) : v) ?? []);
        return holds(dates.map((d) => datePart(inZone(d, t.zone), partOf(t.part))), t.keys, t);
      }
      case 'currentdate':
        return holds([datePart(inZone({ ms: ctx.nowMs, offsetMinutes: 0 }, t.zone), partOf(t.part))], t.keys, t);
      case 'environment': {
        // RFC 5183 §4: an item this site does not know makes the test fail
        const value = Object.hasOwn(ctx.environment, x(t.name).toLowerCase()) ? ctx.environment[x(t.name).toLowerCase()] : undefined;
        return value !== undefined && holds([value], t.keys, t);
      }
      case 'mailboxexists':
        // RFC 5490 §3.1: true when every one exists (a name that cannot be a mailbox does not)
        return xs(t.mailboxes).every((m) => {
          step();
          const name = mailboxName(m);
          return name !== undefined && ctx.mailboxes.exists(name);
        });
      case 'specialuse_exists': {
        // RFC 8579 §4: every attribute is on some mailbox, or on the one named (which must exist)
        const uses = xs(t.uses);
        step(uses.length);
        if (t.mailbox === undefined) return uses.every((u) => ctx.mailboxes.withSpecialUse(u) !== undefined);
        const name = mailboxName(x(t.mailbox));
        if (name === undefined || !ctx.mailboxes.exists(name)) return false;
        const have = ctx.mailboxes.specialUses(name).map((u) => u.toLowerCase());
        return uses.every((u) => have.includes(u.toLowerCase()));
      }
      case 'duplicate':
        return duplicate(t);
      case 'body': {
        const { values, scanned } = msg.body(t.transform);
        // RFC 5173 §6: the body is costly to read; the bytes decoded count toward the step bound
        step(Math.floor(scanned / BODY_BYTES_PER_STEP));
        return holds(values, t.keys, t);
      }
    }
  };
  /** A date part written with a variable is known only now: an unknown one is an error (RFC 5260 §4.2). */
  const partOf = (part: string): DatePart => {
    const p = x(part).toLowerCase() as DatePart;
    if (!DATE_PARTS.includes(p)) throw new SieveRuntimeError(`unknown date part ${JSON.stringify(p.slice(0, 40))}`, line);
    return p;
  };
  /** RFC 5260 §4.1: shown in the :zone given, the zone the field was written in, or the server's. */
  const inZone = (d: ZonedDate, zone: DateZone): ZonedDate => {
    if (zone.kind === 'original') return d;
    if (zone.kind === 'local') return { ms: d.ms, offsetMinutes: localOffset(d.ms) };
    const offset = zoneOffset(x(zone.zone));
    if (offset === undefined) throw new SieveRuntimeError(`invalid :zone ${JSON.stringify(x(zone.zone).slice(0, 40))}`, line);
    return { ms: d.ms, offsetMinutes: offset };
  };
  const mailboxName = (name: string): string | undefined => {
    try {
      return normalizeMailbox(name);
    } catch {
      return undefined;
    }
  };
  /**
   * RFC 7352 §3: the id is the :uniqueid, the :header field's value or the Message-ID (no such field: false, and
   * nothing recorded); a duplicate when seen under the same handle within :seconds by an earlier delivery. Ids
   * seen in this run are recorded once the message is delivered, never compared within the run (§3).
   */
  const duplicate = (t: Extract<SieveTest, { kind: 'duplicate' }>): boolean => {
    let id: string | undefined;
    if (t.uniqueid !== undefined) id = x(t.uniqueid);
    else {
      const name = t.header !== undefined ? x(t.header).toLowerCase() : 'message-id';
      // §3: an invalid header name makes the test false (never an error)
      if (!FIELD_NAME.test(name)) return false;
      const v = msg.header(name)[0];
      // §3.1: leading and trailing white space is no part of the id
      id = v?.trim();
    }
    if (id === undefined || id === '') return false;
    // §3: ":seconds 0" makes the test false unconditionally (and an entry that expires at once is not kept)
    if (t.seconds === 0) return false;
    if (id.length > MAX_DUPLICATE_ID) id = `sha256:${createHash('sha256').update(id).digest('base64url')}`;
    // §3: an id is tracked whatever its source (Message-ID, :header or :uniqueid); only :handle separates
    const handle = x(t.handle);
    // §3.5: the default period, and sites cap it
    const seconds = Math.min(MAX_DUPLICATE_SECONDS, Math.max(1, t.seconds ?? DEFAULT_DUPLICATE_SECONDS));
    const seen = ctx.duplicates.seen(handle, id, seconds, ctx.nowMs);
    if (!duplicates.some((d) => d.handle === handle && d.id === id)) {
      // bounded like the actions: a script cannot make one message write thousands of ids
      if (duplicates.length >= limits.maxActions) throw new SieveRuntimeError(`more than ${limits.maxActions} duplicate ids`, line);
      duplicates.push({ handle, id, seconds, last: t.last });
    }
    return seen;
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
        case 'fileinto': {
          // RFC 8579 §3: the mailbox that has the attribute; the one named when none has it
          const special = c.specialUse !== undefined ? ctx.mailboxes.withSpecialUse(x(c.specialUse)) : undefined;
          act({ kind: 'fileinto', folder: special ?? folderOf(c.folder), flags: c.flags ? normalizeFlags(xs(c.flags)) : flags });
          // RFC 3894 §3: with :copy the implicit keep stays
          if (!c.copy) implicitKeep = false;
          break;
        }
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
          // RFC 6131 §2: :seconds instead of :days, bounded alike (a fraction of a day for the store)
          const seconds = c.seconds === undefined ? undefined : Math.min(MAX_VACATION_DAYS * 86_400, Math.max(MIN_VACATION_SECONDS, c.seconds));
          const days = seconds !== undefined ? seconds / 86_400 : Math.min(MAX_VACATION_DAYS, Math.max(MIN_VACATION_DAYS, c.days ?? DEFAULT_VACATION_DAYS));
          act({
            kind: 'vacation',
            days,
            ...(seconds !== undefined ? { seconds } : {}),
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
    return { ok: true, actions, duplicates };
  } catch (err) {
    if (err instanceof SieveRuntimeError) return { ok: false, error: err.message, line: err.line };
    throw err;
  }
}
