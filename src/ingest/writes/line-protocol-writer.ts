import type { DatasetLayout } from '../../core/dataset.js';
import type { DatasetRegistry } from '../../core/dataset-registry.js';
import { isSluiceError } from '../../core/errors.js';
import type { DatasetService } from '../../datasets/dataset-service.js';
import { parseLineProtocol, type LinePoint } from '../formats/line-protocol.js';
import type { RecordWriter } from '../record-writer.js';
import { autoDatasetSpec, datasetNameOf, translatePoints } from './line-translation.js';

/** Line errors a result lists in full; the counts cover all of them. */
const MAX_LISTED_ERRORS = 20;

export interface LineWriteOptions {
  precision: string;
  /** API key id of the writer. */
  client: string | null;
  /** Throws (forbidden) when the key may not write this dataset; called before anything is written. */
  authorize(dataset: string): void;
}

export interface LineWriteResult {
  /** Points parsed from the body. */
  points: number;
  /** Points stored (valid and new, or duplicates of stored ones). */
  written: number;
  /** Lines not written: unparseable, unknown measurement or column, or invalid for the dataset. */
  rejected: number;
  /** The first problems, by body line. */
  errors: { line: number; message: string }[];
  /** Datasets created for new measurements by this request. */
  created: string[];
}

/**
 * InfluxDB line protocol into datasets: a measurement is a dataset, tags and fields are its columns
 * (see line-translation.ts). Each dataset's points go through the RecordWriter, so they are validated,
 * deduplicated and applied exactly once like any other write; the call resolves once they are applied.
 */
export class LineProtocolWriter {
  constructor(
    private readonly deps: {
      registry: DatasetRegistry;
      datasets: DatasetService;
      writer: RecordWriter;
      autoCreate: boolean;
      unknownColumns: 'reject' | 'drop';
    },
  ) {}

  async write(body: string, opts: LineWriteOptions): Promise<LineWriteResult> {
    const parsed = parseLineProtocol(body);
    const result: LineWriteResult = {
      points: parsed.points.length,
      written: 0,
      rejected: parsed.errors.length,
      errors: parsed.errors.map((e) => ({
        line: e.line,
        message: `unable to parse '${e.raw}': ${e.message}`,
      })),
      created: [],
    };
    const byDataset = new Map<string, LinePoint[]>();
    for (const p of parsed.points) {
      const name = datasetNameOf(p.measurement);
      let list = byDataset.get(name);
      if (!list) byDataset.set(name, (list = []));
      list.push(p);
    }
    // Authorisation covers every dataset before any point is written, so a refusal writes nothing.
    for (const name of byDataset.keys()) opts.authorize(name);
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const writes: Promise<void>[] = [];
    for (const [name, points] of byDataset) {
      const reject = (message: string): void => {
        result.rejected += points.length;
        for (const p of points) result.errors.push({ line: p.line, message });
      };
      const layout = await this.layoutFor(name, points, result, reject);
      if (!layout) continue;
      if (layout.spec.mode === 'replace') {
        reject(`dataset '${name}' is in replace mode and changes only through uploads`);
        continue;
      }
      const { write, rejects } = translatePoints(layout, points, {
        precision: opts.precision,
        nowNs,
        unknownColumns: this.deps.unknownColumns,
      });
      result.rejected += rejects.length;
      result.errors.push(...rejects);
      if (write.lines.length === 0) continue;
      writes.push(
        this.deps.writer.write(name, write.ndjson, { client: opts.client }).then((r) => {
          result.written += r.rows.valid + r.rows.duplicate;
          result.rejected += r.rows.invalid;
          for (const x of r.rejects)
            result.errors.push({
              line: write.lines[x.line - 1] ?? x.line,
              message: `${x.reason}${x.column ? ` (${x.column})` : ''} in dataset '${name}'`,
            });
        }),
      );
    }
    await Promise.all(writes);
    result.errors.sort((a, b) => a.line - b.line);
    result.errors.length = Math.min(result.errors.length, MAX_LISTED_ERRORS);
    return result;
  }

  /** The dataset of a measurement, created when missing and allowed; undefined (lines rejected) if not. */
  private async layoutFor(
    name: string,
    points: readonly LinePoint[],
    result: LineWriteResult,
    reject: (message: string) => void,
  ): Promise<DatasetLayout | undefined> {
    const found = this.deps.registry.find(name);
    if (found) return found.layout;
    if (!this.deps.autoCreate) {
      reject(`no dataset '${name}' for measurement '${points[0]?.measurement}', and auto-create is off`);
      return undefined;
    }
    try {
      const created = await this.deps.datasets.create(autoDatasetSpec(name, points));
      result.created.push(name);
      return created.layout;
    } catch (e) {
      // Another request created it meanwhile: use that one.
      if (isSluiceError(e) && e.code === 'dataset_exists') return this.deps.registry.get(name).layout;
      if (isSluiceError(e) && e.code === 'validation_failed') {
        reject(`cannot create dataset '${name}': ${e.message}`);
        return undefined;
      }
      throw e;
    }
  }
}
