// `spamgate users vacation`: the out-of-office setting from the command line (subject, message file, last day,
// days between replies to one sender), checked against the same bounds as the users file, or --off.
import { closeSync, openSync, readSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import {
  isCalendarDate,
  VACATION_MAX_DAYS,
  VACATION_MESSAGE_MAX_BYTES,
  VACATION_SUBJECT_MAX_CHARS,
  vacationEntry,
  type VacationConfig,
} from '../config/sections/mailhost.ts';
import { UsageError, type CommandArgs } from './types.ts';

export const VACATION_FLAGS = ['subject', 'message-file', 'until', 'days'] as const;

/** At most `max` + 1 bytes of the file: enough to tell that it is too big without reading all of it. */
function readBounded(file: string, max: number): Buffer {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new UsageError(`--message-file: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    const buf = Buffer.alloc(max + 1);
    let n = 0;
    for (let got = 1; got > 0 && n < buf.length; n += got) {
      try {
        got = readSync(fd, buf, n, buf.length - n, null);
      } catch (err) {
        throw new UsageError(`--message-file: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      }
    }
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** The setting the flags ask for, 'off' for --off; bad usage throws UsageError (exit 2). */
export function vacationFromArgs(args: CommandArgs, nowMs: number): VacationConfig | 'off' {
  const given = VACATION_FLAGS.filter((f) => args.flags.has(f));
  if (args.flags.has('off')) {
    if (given.length) throw new UsageError(`--off takes no other option (found --${given.join(', --')})`);
    return 'off';
  }
  const str = (name: string): string | undefined => {
    const v = args.flags.get(name);
    if (v === true) throw new UsageError(`--${name} needs a value`);
    return v;
  };
  const file = str('message-file');
  if (file === undefined) throw new UsageError('users vacation needs --message-file FILE (or --off)');
  const bytes = readBounded(file, VACATION_MESSAGE_MAX_BYTES);
  if (bytes.length > VACATION_MESSAGE_MAX_BYTES) throw new UsageError(`--message-file: ${file} is larger than ${VACATION_MESSAGE_MAX_BYTES} bytes`);
  if (!isUtf8(bytes)) throw new UsageError(`--message-file: ${file} is not UTF-8 text`);
  const message = bytes.toString('utf8');
  if (message.trim() === '') throw new UsageError(`--message-file: ${file} is empty`);
  if (message.includes('\0')) throw new UsageError(`--message-file: ${file} holds NUL characters (not text)`);

  const subject = str('subject');
  if (subject !== undefined) {
    if (subject.trim() === '') throw new UsageError('--subject: empty (leave it out for "Auto: " and the original subject)');
    if ([...subject].length > VACATION_SUBJECT_MAX_CHARS) throw new UsageError(`--subject: at most ${VACATION_SUBJECT_MAX_CHARS} characters`);
    if (/[\x00-\x1f\x7f]/.test(subject)) throw new UsageError('--subject: no line breaks or control characters');
  }
  const until = str('until');
  if (until !== undefined) {
    if (!isCalendarDate(until)) throw new UsageError(`--until: expected a date YYYY-MM-DD, found ${JSON.stringify(until)}`);
    if (Date.parse(`${until}T00:00:00Z`) + 86_400_000 <= nowMs) throw new UsageError(`--until: ${until} is in the past`);
  }
  const daysText = str('days');
  let days = 7;
  if (daysText !== undefined) {
    if (!/^\d{1,3}$/.test(daysText) || Number(daysText) < 1 || Number(daysText) > VACATION_MAX_DAYS) {
      throw new UsageError(`--days: expected a whole number from 1 to ${VACATION_MAX_DAYS}, found ${JSON.stringify(daysText)}`);
    }
    days = Number(daysText);
  }
  // the same schema the server reads the users file with: what is written here is read back there
  const parsed = vacationEntry.safeParse({ message, days, ...(subject !== undefined ? { subject } : {}), ...(until !== undefined ? { until } : {}) });
  if (!parsed.success) throw new UsageError(`vacation: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}
