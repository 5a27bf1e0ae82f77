// Spam campaign texts for the fuzzy tests: one message, its near-copies (another greeting, inserted
// words, other tracking numbers) and an unrelated text of the same length.
export const CAMPAIGN =
  'Dear friend, we are pleased to inform you that your account has been selected for an exclusive offer of our premium ' +
  'pharmacy products at unbeatable prices. Order today and receive free shipping on every package, discreet delivery to ' +
  'your door, and a bonus gift with any purchase over fifty dollars. Our licensed doctors approve every order within ' +
  'minutes so you never need a prescription again. Click the link below to claim your discount before this limited time ' +
  'promotion expires at midnight tonight. Visit https://pharma.example/offer?id=48151623&u=a1b2c3 now. Your reference ' +
  'number is 2024-88731. Unsubscribe any time by replying to this message with the word remove in the subject line.';

/** The campaign as a later copy: greeting changed, three random words inserted, other numbers and tokens. */
export function nearCopy(n: number): string {
  return CAMPAIGN.replace('Dear friend', `Hello customer${n}`)
    .replace('Order today', 'Order marmalade today')
    .replace('within minutes', 'within quiet minutes')
    .replace('before this', `before zebra this`)
    .replace('48151623&u=a1b2c3', `${90000 + n}&u=zz${n}q`)
    .replace('2024-88731', `${n}-${n * 7}`);
}

export const UNRELATED =
  'The quarterly planning meeting has moved to the large conference room on the third floor because the usual room ' +
  'is being repainted this week. Please bring your updated project timelines and the budget figures we discussed on ' +
  'Monday, and be ready to talk about staffing for the spring release. Lunch will be provided, so let the office ' +
  'manager know about any dietary needs by Wednesday afternoon. If you cannot attend in person, the dial in details are ' +
  'in the calendar invitation, and the slides will be shared afterwards on the team wiki together with the notes and ' +
  'the action items that come out of the discussion. Thanks everyone for the hard work this quarter.';

export function message(body: string, subject = 'offer', extraHeaders = ''): Buffer {
  return Buffer.from(`From: sender@example.net\r\nTo: user@example.com\r\nSubject: ${subject}\r\n${extraHeaders}\r\n${body.replace(/(.{1,70})(\s|$)/g, '$1\r\n')}`);
}

/** A message with a short text and one base64 attachment of these bytes. */
export function withAttachment(text: string, bytes: Buffer, subject = 'invoice'): Buffer {
  const b64 = bytes.toString('base64').replace(/(.{76})/g, '$1\r\n');
  return Buffer.from(
    `From: sender@remote.example\r\nTo: postmaster@localhost\r\nSubject: ${subject}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n` +
      `--b1\r\nContent-Type: text/plain\r\n\r\n${text}\r\n--b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="invoice.zip"\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}\r\n--b1--\r\n`,
  );
}

/** Deterministic bytes (an attachment's content). */
export function payload(seed: number, length = 4096): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Half the campaign, half the unrelated text: shares some slots with the campaign, well under 0.7. */
export const HALF_COPY = [...CAMPAIGN.split(' ').slice(0, 50), ...UNRELATED.split(' ').slice(50)].join(' ');
