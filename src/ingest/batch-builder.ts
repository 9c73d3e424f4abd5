import type { ColumnarBatch, Reject, SourcePosition } from '../core/batch.js';
import type { DatasetLayout } from '../core/dataset.js';
import type { RejectReason } from '../core/errors.js';
import { RowHasher } from './content-hash.js';

/**
 * Accumulates validated rows column by column. The validator writes the values of the row in progress
 * at index `length`; `commit` keeps the row and a reject simply leaves the slot to be overwritten, so a
 * rejected row costs no undo work.
 */
export class BatchBuilder {
  length = 0;
  keys!: string[][];
  timeUs!: Float64Array | null;
  fields!: Float64Array[];
  payloads!: (string | null)[][];
  attributes!: (string | null)[][];
  timeText!: string[] | null;
  private hashes!: Float64Array | null;
  private lines!: Float64Array;
  private rejects!: Reject[];
  private readonly hasher = new RowHasher();
  private readonly dedup: 'none' | 'content' | 'key';

  constructor(
    private readonly layout: DatasetLayout,
    private readonly capacity: number,
  ) {
    this.dedup = layout.spec.dedup;
    this.reset();
  }

  private reset(): void {
    const n = this.capacity;
    const l = this.layout;
    this.length = 0;
    this.keys = l.keys.map(() => new Array<string>(n));
    this.timeUs = l.time ? new Float64Array(n) : null;
    this.fields = l.fields.map(() => new Float64Array(n));
    this.payloads = l.payloads.map(() => new Array<string | null>(n));
    this.attributes = l.attributes.map(() => new Array<string | null>(n));
    this.timeText = l.time && l.spec.mode === 'replace' ? new Array<string>(n) : null;
    this.hashes = this.dedup === 'none' ? null : new Float64Array(n);
    this.lines = new Float64Array(n);
    this.rejects = [];
  }

  /** Keeps the row whose values were written at index `length`. */
  commit(line: number): void {
    const i = this.length;
    this.lines[i] = line;
    if (this.hashes !== null) this.hashes[i] = this.hashRow(i);
    this.length = i + 1;
  }

  reject(line: number, reason: RejectReason, column: string | null, raw: string): void {
    this.rejects.push({ line, reason, column, raw });
  }

  private hashRow(i: number): number {
    const h = this.hasher;
    h.reset();
    for (const col of this.keys) h.addString(col[i]!);
    if (this.dedup === 'key') return h.digest();
    h.addNumber(this.timeUs === null ? NaN : this.timeUs[i]!);
    for (const col of this.fields) h.addNumber(col[i]!);
    for (const col of this.payloads) {
      const p = col[i]!;
      if (p === null) h.addNull();
      else h.addString(p);
    }
    return h.digest();
  }

  /** Hands the accumulated rows over as a batch and starts a new one. */
  finish(meta: { source: string; seq: number; totalRows: number; end: SourcePosition }): ColumnarBatch {
    const n = this.length;
    const trim = <T>(a: T[]): T[] => {
      a.length = n;
      return a;
    };
    const cut = (a: Float64Array): Float64Array => (n === a.length ? a : a.slice(0, n));
    const batch: ColumnarBatch = {
      id: `${meta.source}:${meta.seq}`,
      dataset: this.layout.spec.name,
      source: meta.source,
      seq: meta.seq,
      length: n,
      keys: this.keys.map(trim),
      timeUs: this.timeUs && cut(this.timeUs),
      fields: this.fields.map(cut),
      payloads: this.payloads.map(trim),
      attributes: this.attributes.map(trim),
      timeText: this.timeText && trim(this.timeText),
      hashes: this.hashes && cut(this.hashes),
      lines: cut(this.lines),
      totalRows: meta.totalRows,
      rejects: this.rejects,
      end: meta.end,
    };
    this.reset();
    return batch;
  }
}
