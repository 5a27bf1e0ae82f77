// The README documents every config key: each leaf key path of the schema appears in README.md.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { z } from 'zod';
import { configSchema } from '../../../src/config/schema.ts';

type AnySchema = z.core.$ZodType;

/** Unwraps defaults, optionals, pipes and refinements to the underlying object, if any. */
function objectShape(schema: AnySchema): Record<string, AnySchema> | undefined {
  let cur: AnySchema = schema;
  for (let i = 0; i < 20; i++) {
    const def = cur._zod.def as unknown as { type: string; innerType?: AnySchema; in?: AnySchema; shape?: Record<string, AnySchema> };
    if (def.type === 'object') return def.shape;
    const next = def.innerType ?? def.in;
    if (!next) return undefined;
    cur = next;
  }
  return undefined;
}

function leafPaths(schema: AnySchema, prefix: string): string[] {
  const shape = objectShape(schema);
  // A rate rule { limit, window } is documented as one key.
  if (!shape || Object.keys(shape).join(',') === 'limit,window') return [prefix];
  return Object.entries(shape).flatMap(([k, v]) => leafPaths(v, prefix ? `${prefix}.${k}` : k));
}

test('every config key is documented in README.md', () => {
  const readme = readFileSync(path.resolve(import.meta.dirname, '../../../README.md'), 'utf8');
  const keys = leafPaths(configSchema, '');
  assert.ok(keys.length > 100, `schema walk found ${keys.length} keys`);
  const missing = keys.filter((k) => {
    const last = k.split('.').pop() ?? k;
    // A key is documented when its full path appears, or its parent path with the leaf as `.leaf`.
    const parent = k.slice(0, k.length - last.length - 1);
    return !readme.includes(`\`${k}\``) && !readme.includes(`${k}\``) && !(parent && readme.includes(`${parent}.`) && readme.includes(`.${last}\``));
  });
  assert.deepEqual(missing, []);
});
