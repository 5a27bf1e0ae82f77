// Config section `dmarc_reports:`: DMARC aggregate reports (RFC 7489 §7.2) about received mail, sent daily to the
// rua of each From domain's DMARC record. Off by default: reports are mail about every sending domain.
import { z } from 'zod';
import { domain, oneLine } from '../units.ts';

export const dmarcReportsSection = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** report_metadata/org_name (default: the submitter). */
    org_name: oneLine(200).optional(),
    /** The report's From address and report_metadata/email (default: dmarc-noreply@ the submitter). */
    email: z
      .string()
      .max(254)
      .regex(/^[^\s@<>,;"]{1,64}@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$/, { message: 'expected an address local@domain' })
      .optional(),
    /** The reporting domain (Subject Submitter:, the file name; default: the host name). */
    submitter: domain().optional(),
  })
  .prefault({});
export type DmarcReportsConfig = z.output<typeof dmarcReportsSection>;
