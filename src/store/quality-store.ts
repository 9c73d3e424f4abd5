/**
 * The data-quality part of the MetaStore: row outcomes and reject reasons per dataset, client and
 * minute, with a few example lines per reason, so invalid rates can be charted over time and recurring
 * problems stand out.
 */

export interface QualityExample {
  line: number;
  column: string | null;
  raw: string;
}

export interface QualityDelta {
  dataset: string;
  client: string;
  /** Start of the bucket, ms since the epoch. */
  bucketMs: number;
  total: number;
  valid: number;
  invalid: number;
  duplicate: number;
  reasons: ReadonlyMap<string, { n: number; examples: QualityExample[] }>;
}

export interface QualityFilter {
  dataset?: string;
  client?: string;
  /** Inclusive, ms. */
  fromMs: number;
  /** Exclusive, ms. */
  toMs: number;
}

export interface QualityCounts {
  total: number;
  valid: number;
  invalid: number;
  duplicate: number;
}

export interface QualityBucket extends QualityCounts {
  bucketMs: number;
}

export interface QualityGroup extends QualityCounts {
  dataset: string;
  client: string;
}

export interface QualityReason {
  reason: string;
  n: number;
  examples: (QualityExample & { dataset: string; client: string; bucketMs: number })[];
}

export interface QualityStore {
  /** Adds counts; examples are kept up to a few per (dataset, client, bucket, reason). */
  addQuality(deltas: readonly QualityDelta[]): Promise<void>;
  /** Sums per time bucket of `stepMs` (aligned to the epoch), oldest first; empty buckets are absent. */
  qualityBuckets(filter: QualityFilter, stepMs: number): Promise<QualityBucket[]>;
  /** Sums per (dataset, client) over the range. */
  qualityGroups(filter: QualityFilter): Promise<QualityGroup[]>;
  /** The most frequent reasons with their counts and a few recent example lines each. */
  qualityReasons(filter: QualityFilter, limit: number): Promise<QualityReason[]>;
}
