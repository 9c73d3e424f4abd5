import type { AppliedBatch } from '../../apply/applier.js';
import type { DatasetRegistry } from '../../core/dataset-registry.js';
import type { MetaStore, UploadRow } from '../../store/meta-store.js';
import type { SeriesStore } from '../../store/series-store.js';
import type { RuleSpec } from '../alert-config.js';

/** What a rule concluded about one group. `pending` holds the current state (a `for` not yet over). */
export interface Verdict {
  groupKey: string;
  state: 'firing' | 'ok' | 'pending';
  value: number | null;
  description: string;
  labels: Record<string, string>;
  /** When the condition was observed (defaults to the evaluation time). */
  at?: number;
}

export interface Evaluation {
  /** In order; several per group are applied one after the other. */
  verdicts: Verdict[];
  /** True when groups without a verdict are known to be fine (their open alerts resolve). */
  resolveMissing: boolean;
}

export interface RuleDeps {
  registry: DatasetRegistry;
  series: SeriesStore;
  meta: MetaStore;
}

/** A live rule: evaluated on each tick, optionally fed by applied batches and finished uploads. */
export interface AlertRule {
  readonly spec: RuleSpec;
  /** Restores per-group state saved by an earlier process. */
  restore(states: ReadonlyMap<string, unknown>): void;
  /** Learns from data already stored, for a rule without saved state (a new rule). */
  prime?(now: number): Promise<void>;
  evaluate(now: number): Promise<Evaluation>;
  onBatch?(applied: AppliedBatch, now: number): void;
  onUpload?(row: UploadRow, now: number): Promise<Verdict[]>;
  /** Per-group state changed since the last call, to persist. */
  takeDirty(): Map<string, unknown>;
}

/** Keeps per-group state and remembers which groups changed. */
export class GroupStates<T> {
  readonly map = new Map<string, T>();
  private readonly dirty = new Set<string>();

  restore(states: ReadonlyMap<string, unknown>, revive: (v: unknown) => T): void {
    for (const [k, v] of states) if (v !== null) this.map.set(k, revive(v));
  }

  get(key: string): T | undefined {
    return this.map.get(key);
  }

  set(key: string, value: T): void {
    this.map.set(key, value);
    this.dirty.add(key);
  }

  delete(key: string): void {
    if (this.map.delete(key)) this.dirty.add(key);
  }

  touch(key: string): void {
    this.dirty.add(key);
  }

  /** Changed groups' states; a deleted group's is null. */
  take(serialize: (v: T) => unknown): Map<string, unknown> {
    const out = new Map<string, unknown>();
    for (const k of this.dirty) {
      const v = this.map.get(k);
      out.set(k, v === undefined ? null : serialize(v));
    }
    this.dirty.clear();
    return out;
  }
}

export function fmt(x: number): string {
  return String(Number(x.toPrecision(4)));
}

export function ruleLabels(spec: RuleSpec): Record<string, string> {
  const labels: Record<string, string> = { ...spec.labels };
  if (spec.dataset !== undefined) labels.dataset = spec.dataset;
  return labels;
}
