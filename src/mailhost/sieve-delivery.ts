// Sieve filtering at local delivery: runs the user's script on a message and says where its copies go (folders
// with flags), which addresses get it redirected, whether it is rejected and what vacation reply it asks for. A script that is missing leaves the implicit keep; one that
// cannot be read, does not compile or fails while running also does (RFC 5228 §2.10.6), logged and counted.
// Counted in spamgate_sieve_actions_total{action} and spamgate_sieve_errors_total{kind}.
import { counter, type Registry } from '../metrics/registry.ts';
import { plainContext } from '../sieve/context.ts';
import { DEFAULT_LIMITS, executeSieve, type DuplicateRecord, type SieveAction, type VacationAction } from '../sieve/execute.ts';
import { formatProblem } from '../sieve/errors.ts';
import { sieveMessage } from '../sieve/message.ts';
import type { SieveVerdict } from '../sieve/spamtest.ts';
import type { Logger } from '../util/logger.ts';
import { sieveContextFor, type SieveClient, type SieveContextDeps } from './sieve-context.ts';
import type { SieveScripts } from './sieve-scripts.ts';

/** One stored copy: `folder` undefined is the default place (INBOX, or Junk by the filter's verdict). */
export interface PlannedCopy {
  folder?: string;
  flags: readonly string[];
}

export interface SievePlan {
  copies: PlannedCopy[];
  redirects: string[];
  /** True when a script ran (and so the copies and redirects are its choice). */
  filtered: boolean;
  /** reject/ereject (RFC 5429): not delivered, the sender told why; then there are no copies or redirects. */
  reject?: { reason: string; extended: boolean };
  /** A vacation action (RFC 5230): it replaces the administrator's out-of-office reply for this message. */
  vacation?: VacationAction;
  /** The ids the script's duplicate tests saw (RFC 7352): recorded once the message is delivered (`delivered`). */
  duplicates?: DuplicateRecord[];
}

export const SIEVE_ACTIONS = ['keep', 'implicit_keep', 'fileinto', 'redirect', 'discard', 'reject', 'vacation'] as const;
/** read: the file could not be read; compile: it does not compile (written by hand); runtime: a bound was passed; action: a fileinto could not be done. */
export const SIEVE_ERRORS = ['read', 'compile', 'runtime', 'action'] as const;
export type SieveErrorKind = (typeof SIEVE_ERRORS)[number];

export interface SieveFiltering {
  /** `verdict`: spamgate's own for this recipient, from the spool envelope (RFC 5235 spamtest, virustest). */
  plan(input: { user: string; mailFrom: string; recipient: string; raw: Buffer; queueId: string; verdict?: SieveVerdict; client?: SieveClient }): Promise<SievePlan>;
  /** The message was delivered as planned: the duplicate ids its run saw are remembered (RFC 7352 §3). */
  delivered(user: string, queueId: string, plan: SievePlan): Promise<void>;
  /** A planned action failed when carried out (a folder that cannot be made): counted and logged; the caller keeps instead. */
  actionFailed(user: string, queueId: string, reason: string): void;
}

const IMPLICIT_KEEP: SievePlan = { copies: [{ flags: [] }], redirects: [], filtered: false };

/** `context`: what the scripts see beyond the message (absent: only the time, as `users sieve check` runs them). */
export function createSieveFiltering(scripts: SieveScripts, registry: Registry, log: Logger, context?: SieveContextDeps): SieveFiltering {
  const actions = counter(registry, 'spamgate_sieve_actions_total', `Actions of users' Sieve scripts at local delivery (${SIEVE_ACTIONS.join(', ')})`, ['action']);
  const errors = counter(registry, 'spamgate_sieve_errors_total', `Sieve scripts that fell back to the implicit keep, by kind (${SIEVE_ERRORS.join(', ')})`, ['kind']);
  for (const action of SIEVE_ACTIONS) actions.inc({ action }, 0);
  for (const kind of SIEVE_ERRORS) errors.inc({ kind }, 0);

  const failed = (kind: SieveErrorKind, user: string, queueId: string, reason: string): SievePlan => {
    errors.inc({ kind });
    actions.inc({ action: 'implicit_keep' });
    log.warn('sieve script failed; message kept', { id: queueId, user, kind, reason });
    return IMPLICIT_KEEP;
  };

  return {
    async plan({ user, mailFrom, recipient, raw, queueId, verdict, client }) {
      let loaded;
      try {
        loaded = await scripts.load(user);
      } catch (err) {
        return failed('read', user, queueId, (err as Error).message);
      }
      if (loaded.kind === 'none') return IMPLICIT_KEEP;
      if (loaded.kind === 'unreadable') return failed('read', user, queueId, loaded.reason);
      if (!loaded.ok) return failed('compile', user, queueId, loaded.problems.slice(0, 3).map(formatProblem).join('; '));
      let outcome;
      try {
        const ctx = context ? await sieveContextFor(context, user, loaded.script, client ?? {}, queueId) : plainContext();
        outcome = executeSieve(loaded.script, sieveMessage(raw, { from: mailFrom, to: recipient }, verdict), DEFAULT_LIMITS, ctx);
      } catch (err) {
        // not expected (the executor reports its own errors), but a script never costs the message
        return failed('runtime', user, queueId, `internal error: ${(err as Error).message}`);
      }
      if (!outcome.ok) return failed('runtime', user, queueId, `line ${outcome.line}: ${outcome.error}`);
      const plan: SievePlan = { copies: [], redirects: [], filtered: true, ...(outcome.duplicates.length ? { duplicates: outcome.duplicates } : {}) };
      for (const a of outcome.actions) {
        actions.inc({ action: labelOf(a) });
        if (a.kind === 'keep') plan.copies.push({ flags: a.flags });
        else if (a.kind === 'fileinto') plan.copies.push({ folder: a.folder, flags: a.flags });
        else if (a.kind === 'redirect') plan.redirects.push(a.address);
        else if (a.kind === 'reject') plan.reject = { reason: a.reason, extended: a.extended };
        else if (a.kind === 'vacation') plan.vacation = a;
      }
      log.info('sieve script run', { id: queueId, user, actions: outcome.actions.map(describe) });
      return plan;
    },
    async delivered(user, queueId, plan) {
      if (!plan.duplicates?.length || !context) return;
      try {
        await context.duplicates.record(user, plan.duplicates, context.now(), queueId);
      } catch (err) {
        // the message is delivered; only the memory of its id is lost (a later copy is not seen as a duplicate)
        log.warn('sieve duplicate ids not recorded', { id: queueId, user, err });
      }
    },
    actionFailed(user, queueId, reason) {
      errors.inc({ kind: 'action' });
      log.warn('sieve action failed; message kept', { id: queueId, user, kind: 'action', reason });
    },
  };
}

function labelOf(a: SieveAction): (typeof SIEVE_ACTIONS)[number] {
  return a.kind === 'keep' ? (a.implicit ? 'implicit_keep' : 'keep') : a.kind;
}

function describe(a: SieveAction): string {
  if (a.kind === 'fileinto') return `fileinto ${a.folder}`;
  if (a.kind === 'redirect') return `redirect ${a.address}`;
  if (a.kind === 'vacation') return a.seconds !== undefined ? `vacation :seconds ${a.seconds}` : `vacation :days ${a.days}`;
  return labelOf(a);
}
