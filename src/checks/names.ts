// Every check spamgate registers, by name, and whether it is a filter. Check.name is typed from this
// list, so a new check cannot be added without naming it here (and checks.disabled cannot drift).
// The policy checks (relay control, recipient verification, rate limits) are not filters: they run
// for trusted clients too, and switching one off would make an open relay or an unbounded sender.

/** Check name → true when it filters (may be named in checks.disabled), false for policy. */
const CHECKS = {
  relay: false,
  recipient: false,
  recipient_upstream: false,
  rate_messages: false,
  rate_recipients: false,
  fcrdns: true,
  helo: true,
  spf: true,
  spf_helo: true,
  sender_domain: true,
  dnsbl: true,
  rhsbl_helo: true,
  rhsbl_from: true,
  uribl: true,
  rhsbl_from_header: true,
  dkim_dmarc: true,
  greylist: true,
  bayes: true,
  lookalike: true,
  content_rules: true,
  content_meta: true,
  antivirus: true,
  lists: true,
  user_lists: true,
  fuzzy: true,
  reputation: true,
  batv: true,
} as const satisfies Record<string, boolean>;

export type CheckName = keyof typeof CHECKS;

export const CHECK_NAMES = Object.keys(CHECKS) as CheckName[];

/** The checks checks.disabled may name, in registration order. */
export const DISABLEABLE_CHECKS = CHECK_NAMES.filter((n) => CHECKS[n]);

/** The checks that always run: relay control, recipient verification and limits. */
export const POLICY_CHECKS = CHECK_NAMES.filter((n) => !CHECKS[n]);
