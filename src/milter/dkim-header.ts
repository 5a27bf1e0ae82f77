// DKIM signing of our own outgoing mail in milter mode (RFC 6376 §5): the message as the MTA will deliver it
// (our header changes applied, final-message.ts) is signed with the dkim.sign keys and the DKIM-Signature is
// given to the MTA on top of the header (SMFIR_INSHEADER at index 0; RFC 6376 §5.6: prepended). SMFIR_INSHEADER
// and SMFIR_ADDHEADER are granted together (SMFIF_ADDHDRS): without it nothing is signed. The body is signed as
// the MTA has it: a milter without SMFIF_CHGBODY cannot make it 7-bit first (RFC 6376 §5.3 is a SHOULD).
import type { DkimSigner } from '../dkim/signer.ts';
import { Action, insertHeader } from './protocol.ts';
import { milterValue } from './verdict-actions.ts';

export type MilterSignOutcome =
  | { status: 'signed'; domain: string; selector: string; packet: Buffer }
  /** No header change granted by the MTA (SMFIF_ADDHDRS): nothing can carry a signature. */
  | { status: 'not_granted' }
  | { status: 'not_signed'; reason: string }
  | { status: 'not_own_from'; address: string }
  | { status: 'failed'; domain: string; error: string };

export interface MilterSignInput {
  signer: DkimSigner;
  /** The message as the MTA will deliver it, lines ending in CRLF. */
  message: Buffer;
  /** The actions the MTA granted (SMFIF_*). */
  actions: number;
  /** Negotiated SMFIP_HDR_LEADSPC: the value is sent with its leading space. */
  leadingSpace: boolean;
  now: number;
  mayUseFrom?: (address: string) => boolean;
}

export async function signForMta(input: MilterSignInput): Promise<MilterSignOutcome> {
  // Sendmail and Postfix grant SMFIR_INSHEADER and SMFIR_ADDHEADER with the one flag SMFIF_ADDHDRS
  if ((input.actions & Action.ADDHDRS) === 0) return { status: 'not_granted' };
  const outcome = await input.signer.sign(input.message, input.now, input.mayUseFrom, { asIs: true });
  if (outcome.status !== 'signed') return outcome;
  // "DKIM-Signature: v=1; …\r\n": the value after the colon (its leading space kept), folded with CRLF + space
  const field = outcome.header.replace(/\r\n$/, '');
  const raw = field.slice(field.indexOf(':') + 1);
  const value = milterValue('DKIM-Signature', input.leadingSpace ? raw : raw.replace(/^[ \t]+/, ''));
  return { status: 'signed', domain: outcome.domain, selector: outcome.selector, packet: insertHeader(0, 'DKIM-Signature', value) };
}

