// Factory for the content filter's data-phase checks: Bayes, look-alike domains, content rules and
// (late, over every symbol hit) meta rules.
import type { Registry } from 'prom-client';
import type { Bayes } from '../bayes/open-bayes.ts';
import { compileContentRules } from '../content/engine.ts';
import { lookalikeSectionSchema, type ContentRule, type LookalikeSection } from '../content/rules-schema.ts';
import { DEFAULT_MIME_LIMITS, type MimeLimits } from '../mime/parse.ts';
import type { Ruleset } from '../scoring/ruleset.ts';
import { silentLogger, type Logger } from '../util/logger.ts';
import { createBayesCheck } from './bayes.ts';
import { createContentMetaCheck, createContentRulesCheck } from './content-rules.ts';
import { createLookalikeCheck } from './lookalike.ts';
import type { Check } from './types.ts';
import { uriblSettings, type UriblSection } from '../dns/uribl-rules.ts';

export interface ContentChecksDeps {
  ruleset: Ruleset;
  /** Omit (or bayes.enabled false) to run without the classifier. */
  bayes?: Bayes;
  limits?: MimeLimits;
  registry?: Registry;
  log?: Logger;
}

/** The content checks, in the order they should be listed; compile errors throw ConfigError. */
export function createContentChecks(deps: ContentChecksDeps): Check[] {
  const limits = deps.limits ?? DEFAULT_MIME_LIMITS;
  const log = deps.log ?? silentLogger;
  const rules = deps.ruleset.section<ContentRule[]>('content_rules') ?? [];
  const lookalike: LookalikeSection = deps.ruleset.section<LookalikeSection>('lookalike') ?? lookalikeSectionSchema.parse({});
  const checks: Check[] = [];
  if (deps.bayes) checks.push(createBayesCheck({ bayes: deps.bayes, limits }));
  checks.push(createLookalikeCheck({ config: lookalike, limits }));
  const known = new Set([...deps.ruleset.symbols.keys(), ...checks.flatMap((c) => c.symbols)]);
  // uri rules see the targets of open redirectors too, as the URI block lists do (the uribl: section's list)
  const uribl = uriblSettings(deps.ruleset.section<UriblSection>('uribl'));
  const engine = compileContentRules(rules, known, deps.ruleset.files, { redirectors: uribl.redirectors ?? [], depth: uribl.redirectDepth ?? 0 });
  checks.push(createContentRulesCheck({ engine, limits }));
  if (engine.metas.length > 0) checks.push(createContentMetaCheck({ engine }));
  log.debug('content checks ready', { rules: engine.rules.length, metas: engine.metas.length, bayes: deps.bayes !== undefined });
  return checks;
}
