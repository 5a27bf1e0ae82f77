// Shape checks for what the spool reads back from disk: a message file's envelope and a delivery
// state file. Both are written by spamgate itself, but a file damaged on disk or edited by hand must
// end in a clear error (the envelope) or a fresh start (the state), never in a crash or a message
// that silently stops moving.
import { z } from 'zod';
import type { DeliveryState } from './spool-format.ts';
import type { QueueEnvelope } from './types.ts';

const notify = z.enum(['NEVER', 'SUCCESS', 'FAILURE', 'DELAY']);

/** Fields the queue relies on are checked; fields added later stay optional, unknown ones pass through. */
const envelopeSchema = z.looseObject({
  mailFrom: z.string(),
  rcptTo: z.array(z.string().min(1)).min(1),
  sessionId: z.string(),
  clientIp: z.string(),
  receivedAt: z.number().finite(),
  envid: z.string().optional(),
  ret: z.enum(['FULL', 'HDRS']).optional(),
  rcptDsn: z.record(z.string(), z.looseObject({ notify: z.array(notify).optional(), orcpt: z.string().optional() })).optional(),
  smtputf8: z.boolean().optional(),
  verdict: z
    .looseObject({
      action: z.string(),
      score: z.number(),
      junkRecipients: z.array(z.string()).optional(),
      // for users' Sieve scripts only: a damaged value is dropped ("not tested"), never the message; loose
      // entries, so a field a newer spamgate adds (rolling upgrade) costs none of the values read here
      spamtest: z.record(z.string(), z.looseObject({ value: z.number().int().min(1).max(10), percent: z.number().int().min(0).max(100) })).optional().catch(undefined),
      virustest: z.number().int().min(1).max(5).optional().catch(undefined),
    })
    .optional(),
  authUser: z.string().optional(),
  outgoing: z.boolean().optional(),
  tlsReport: z.boolean().optional(),
  // only for the ARC seal of a forwarded copy: a damaged one is dropped (the copy goes unsealed), never the message
  auth: z.looseObject({ results: z.string(), arc: z.enum(['none', 'pass', 'fail']) }).optional().catch(undefined),
  client: z.looseObject({ port: z.number().optional(), name: z.string().optional(), helo: z.string().optional(), esmtp: z.boolean().optional() }).optional(),
});

const replySchema = z.looseObject({ code: z.number(), enhanced: z.string().optional(), text: z.string() });

const stateSchema = z.looseObject({
  attempts: z.number().int().nonnegative(),
  nextAttemptAt: z.number().finite(),
  lastAttemptAt: z.number().finite().optional(),
  lastError: z.string().optional(),
  delayWarned: z.boolean(),
  held: z.boolean().optional(),
  recipients: z.record(
    z.string(),
    z.looseObject({
      status: z.enum(['pending', 'delivered', 'failed']),
      reply: replySchema.optional(),
      destination: z.string().optional(),
      remoteMta: z.string().optional(),
      reported: z.boolean().optional(),
    }),
  ),
});

function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  const where = issue.path.length ? issue.path.map(String).join('.') : '(top level)';
  return `${where}: ${issue.message}`;
}

/** The envelope of a message file, or an Error that names the first field that is wrong. */
export function parseEnvelope(json: unknown, file: string): QueueEnvelope {
  const r = envelopeSchema.safeParse(json);
  if (!r.success) throw new Error(`${file}: damaged envelope (${firstIssue(r.error)})`);
  const envelope = r.data as QueueEnvelope;
  if (envelope.auth === undefined) delete envelope.auth;
  return envelope;
}

/** A state file's content checked for shape, or an Error that names the first field that is wrong. */
export function parseState(json: unknown, file: string): DeliveryState {
  const r = stateSchema.safeParse(json);
  if (!r.success) throw new Error(`${file}: damaged delivery state (${firstIssue(r.error)})`);
  return r.data as DeliveryState;
}

/**
 * A state file's content if it is well formed and covers exactly the envelope's recipients; otherwise
 * why not. A state that does not match would strand the message (no retry time) or drop it (no
 * recipients left to deliver), so the caller starts over instead: at worst a duplicate delivery.
 */
export function checkState(json: unknown, envelope: QueueEnvelope): { state: DeliveryState } | { problem: string } {
  const r = stateSchema.safeParse(json);
  if (!r.success) return { problem: firstIssue(r.error) };
  const state = r.data as DeliveryState;
  const keys = Object.keys(state.recipients);
  const wanted = new Set(envelope.rcptTo);
  if (keys.length !== wanted.size || keys.some((k) => !wanted.has(k))) return { problem: 'recipients do not match the message envelope' };
  return { state };
}
