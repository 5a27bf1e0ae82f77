// On-disk form of the quarantine: <dir>/ID.msg, one file per message in the spool's message file format (an
// envelope JSON line, then the raw message); the envelope names the quarantined recipients and carries a
// `quarantine` record (score, deciding threshold, symbols with scores, subject) for list and show.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ID_PATTERN, readEnvelopeFile, readMessageFile } from '../queue/spool-format.ts';
import type { QueueEnvelope } from '../queue/types.ts';

export interface QuarantinedSymbol {
  symbol: string;
  score: number;
  weight: number | 'reject' | 'tempfail' | 'quarantine';
  options: string[];
}

/** Why the message is here, as judged at the end of DATA. */
export interface QuarantineInfo {
  score: number;
  decidedBy: string;
  symbols: QuarantinedSymbol[];
  /** The Subject field as received (control characters replaced, at most 200 characters). */
  subject?: string;
}

/** A queue envelope (rcptTo: the quarantined recipients only) with the quarantine record. */
export interface QuarantineEnvelope extends QueueEnvelope {
  quarantine: QuarantineInfo;
}

const infoSchema = z.looseObject({
  score: z.number(),
  decidedBy: z.string(),
  symbols: z.array(z.looseObject({ symbol: z.string(), score: z.number(), weight: z.union([z.number(), z.enum(['reject', 'tempfail', 'quarantine'])]), options: z.array(z.string()) })),
  subject: z.string().optional(),
});

/** A quarantine id has the spool's id form; anything else never reaches the file system. */
export const isQuarantineId = (id: string): boolean => ID_PATTERN.test(id);

/** The file of a quarantined message; throws for a string that is no quarantine id (never a path from input). */
export function quarantineFile(dir: string, id: string): string {
  if (!isQuarantineId(id)) throw new Error(`not a quarantine id: ${JSON.stringify(id.slice(0, 64))}`);
  return path.join(dir, `${id}.msg`);
}

function checked(envelope: QueueEnvelope, file: string): QuarantineEnvelope {
  const r = infoSchema.safeParse((envelope as Partial<QuarantineEnvelope>).quarantine);
  if (!r.success) throw new Error(`${file}: damaged quarantine record (${r.error.issues[0]?.path.join('.') ?? ''} ${r.error.issues[0]?.message ?? ''})`);
  return { ...envelope, quarantine: r.data as QuarantineInfo };
}

/** Envelope, record and raw message of one quarantined message. */
export async function readQuarantined(file: string): Promise<{ envelope: QuarantineEnvelope; message: Buffer }> {
  const { envelope, message } = await readMessageFile(file);
  return { envelope: checked(envelope, file), message };
}

/** Envelope and record only, with the message size (for listing). */
export async function readQuarantinedHead(file: string): Promise<{ envelope: QuarantineEnvelope; size: number }> {
  const { envelope, size } = await readEnvelopeFile(file);
  return { envelope: checked(envelope, file), size };
}

/** Ids of the quarantined messages, oldest first (temp files, named with a leading dot, are left out). */
export async function listQuarantineIds(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  return names
    .filter((n) => n.endsWith('.msg') && isQuarantineId(n.slice(0, -4)))
    .map((n) => n.slice(0, -4))
    .sort();
}
