import { z } from 'zod';
import { parseDuration } from './duration.js';

/**
 * A dataset is a named stream of records with a schema. The same schema validates the config file
 * and the body of `POST /v1/datasets`.
 */
const duration = z.string().refine((s) => parseDuration(s) !== undefined, {
  message: 'expected a duration such as 30s, 5m, 12h, 365d',
});

export const columnSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, 'letters, digits and _, starting with a letter'),
    type: z.enum(['string', 'number', 'integer', 'time', 'json', 'boolean']).default('string'),
    role: z.enum(['key', 'time', 'field', 'payload', 'attribute']).default('attribute'),
    required: z.boolean().default(false),
    window: z.object({ past: duration.optional(), future: duration.optional() }).strict().optional(),
    min: z.number().optional(),
    max: z.number().optional(),
    enum: z.array(z.string()).min(1).optional(),
    pattern: z.string().optional(),
    /** A declared time format, e.g. `YYYY-MM-DD HH:mm:ss Z zz` (see docs/configuration.md). */
    format: z.string().optional(),
  })
  .strict();

/**
 * One level of rollups: the key columns its series are made of (all of them: one series per distinct
 * key; one column: one series per value of it; none: the whole dataset) and the bucket widths it keeps.
 */
export const rollupLevelSchema = z
  .object({
    by: z.array(z.string()),
    resolutions: z
      .array(z.enum(['1m', '1h', '1d']))
      .min(1)
      .default(['1m', '1h', '1d']),
  })
  .strict();

export const datasetSchema = z
  .object({
    name: z
      .string()
      .regex(/^[a-z][a-z0-9_]{0,62}$/, 'lower-case letters, digits and _, starting with a letter'),
    mode: z.enum(['append', 'replace']).default('append'),
    format: z.enum(['csv', 'ndjson']).default('csv'),
    csv: z
      .object({
        // YAML and JSON users write `header: true` as often as `header: 'true'`; both mean the same.
        header: z
          .preprocess((v) => (typeof v === 'boolean' ? String(v) : v), z.enum(['auto', 'true', 'false']))
          .default('auto'),
        delimiter: z.string().length(1).default(','),
      })
      .strict()
      .default({ header: 'auto', delimiter: ',' }),
    columns: z.array(columnSchema).min(1),
    dedup: z.enum(['none', 'content', 'key']).default('none'),
    retention: z
      .object({ raw: duration.default('30d'), rollups: duration.default('365d') })
      .strict()
      .default({ raw: '30d', rollups: '365d' }),
    /**
     * Rollup levels (append mode). Omitted: the full series and, with several key columns, each key
     * column alone, every one at 1m, 1h and 1d. `[]` keeps none: top-K, history and aggregations then
     * read raw rows, so they only reach back as far as raw retention.
     */
    rollups: z.array(rollupLevelSchema).optional(),
  })
  .strict()
  .superRefine((d, ctx) => {
    // Stores fold identifier case and keep their own `time`, `_hash` and `_line` columns.
    const names = new Set<string>();
    d.columns.forEach((c, i) => {
      const folded = c.name.toLowerCase();
      if (names.has(folded))
        ctx.addIssue({ code: 'custom', path: ['columns', i, 'name'], message: `duplicate column ${c.name}` });
      names.add(folded);
      if (folded.startsWith('_'))
        ctx.addIssue({
          code: 'custom',
          path: ['columns', i, 'name'],
          message: 'names starting with _ are reserved',
        });
      if (folded === 'time' && c.role !== 'time')
        ctx.addIssue({
          code: 'custom',
          path: ['columns', i, 'name'],
          message: 'only the time column may be named time',
        });
      if (c.role === 'time' && c.type !== 'time')
        ctx.addIssue({
          code: 'custom',
          path: ['columns', i, 'type'],
          message: 'a time column has type time',
        });
      if (c.role === 'field' && c.type !== 'number' && c.type !== 'integer')
        ctx.addIssue({
          code: 'custom',
          path: ['columns', i, 'type'],
          message: 'a field column has type number or integer',
        });
      if (c.role === 'payload' && c.type !== 'json')
        ctx.addIssue({
          code: 'custom',
          path: ['columns', i, 'type'],
          message: 'a payload column has type json',
        });
      if (c.pattern !== undefined) {
        try {
          new RegExp(c.pattern);
        } catch {
          ctx.addIssue({
            code: 'custom',
            path: ['columns', i, 'pattern'],
            message: 'not a valid regular expression',
          });
        }
      }
    });
    const times = d.columns.filter((c) => c.role === 'time');
    if (times.length > 1)
      ctx.addIssue({ code: 'custom', path: ['columns'], message: 'at most one time column' });
    if (!d.columns.some((c) => c.role === 'key'))
      ctx.addIssue({ code: 'custom', path: ['columns'], message: 'at least one column has role key' });
    const keyNames = new Set(d.columns.filter((c) => c.role === 'key').map((c) => c.name));
    const levels = new Set<string>();
    d.rollups?.forEach((level, i) => {
      level.by.forEach((column, j) => {
        if (!keyNames.has(column))
          ctx.addIssue({
            code: 'custom',
            path: ['rollups', i, 'by', j],
            message: `'${column}' is not a key column (keys: ${[...keyNames].join(', ')})`,
          });
      });
      if (new Set(level.by).size !== level.by.length)
        ctx.addIssue({ code: 'custom', path: ['rollups', i, 'by'], message: 'a column is named twice' });
      if (new Set(level.resolutions).size !== level.resolutions.length)
        ctx.addIssue({
          code: 'custom',
          path: ['rollups', i, 'resolutions'],
          message: 'a resolution is named twice',
        });
      const id = [...level.by].sort().join(',');
      if (levels.has(id))
        ctx.addIssue({
          code: 'custom',
          path: ['rollups', i, 'by'],
          message: `another level already rolls up by [${level.by.join(', ')}]`,
        });
      levels.add(id);
    });
    if (d.mode === 'replace' && d.dedup === 'content')
      ctx.addIssue({ code: 'custom', path: ['dedup'], message: 'replace mode uses dedup none or key' });
  });

export type ColumnSpec = z.infer<typeof columnSchema>;
export type DatasetSpec = z.infer<typeof datasetSchema>;
export type DatasetInput = z.input<typeof datasetSchema>;

/** Column positions by role, computed once per dataset so the hot path indexes arrays. */
export interface DatasetLayout {
  readonly spec: DatasetSpec;
  readonly keys: readonly ColumnSpec[];
  readonly time: ColumnSpec | undefined;
  readonly fields: readonly ColumnSpec[];
  readonly payloads: readonly ColumnSpec[];
  readonly attributes: readonly ColumnSpec[];
  /** Index of each column (by name) in the declared column order. */
  readonly indexOf: ReadonlyMap<string, number>;
}

export function layoutOf(spec: DatasetSpec): DatasetLayout {
  const by = (role: ColumnSpec['role']): ColumnSpec[] => spec.columns.filter((c) => c.role === role);
  return {
    spec,
    keys: by('key'),
    time: by('time')[0],
    fields: by('field'),
    payloads: by('payload'),
    attributes: by('attribute'),
    indexOf: new Map(spec.columns.map((c, i) => [c.name, i])),
  };
}
