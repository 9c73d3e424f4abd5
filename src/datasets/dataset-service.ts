import type { Applier } from '../apply/applier.js';
import { datasetSchema, type DatasetSpec } from '../core/dataset.js';
import type { DatasetRegistry, RegisteredDataset } from '../core/dataset-registry.js';
import { SluiceError } from '../core/errors.js';
import { parseBody } from '../config/load.js';
import type { MetaStore } from '../store/meta-store.js';
import type { SeriesStore } from '../store/series-store.js';

/**
 * Datasets come from the config file (fixed while running) or from the API (stored in the
 * MetaStore, so they survive a restart). The config wins when both define a name.
 */
export class DatasetService {
  constructor(
    private readonly registry: DatasetRegistry,
    private readonly meta: MetaStore,
    private readonly series: SeriesStore,
    private readonly applier: Applier,
  ) {}

  async load(fromConfig: readonly DatasetSpec[]): Promise<void> {
    for (const spec of fromConfig) this.registry.add(spec, 'config');
    for (const { spec } of await this.meta.listDatasets())
      if (!this.registry.has(spec.name)) this.registry.add(spec, 'api');
  }

  async create(body: unknown): Promise<RegisteredDataset> {
    const spec = parseBody(datasetSchema, body);
    if (this.registry.has(spec.name))
      throw new SluiceError('dataset_exists', `Dataset '${spec.name}' already exists`);
    await this.meta.putDataset(spec);
    const entry = this.registry.add(spec, 'api');
    await this.applier.rebuildDataset(entry.layout);
    return entry;
  }

  async delete(name: string): Promise<void> {
    const entry = this.registry.get(name);
    if (entry.origin === 'config')
      throw new SluiceError(
        'dataset_in_config',
        `Dataset '${name}' is defined in the config file; remove it there`,
      );
    this.registry.remove(name);
    this.applier.forget(name);
    await this.series.dropDataset(name);
    for (const v of await this.meta.listVersions(name)) await this.meta.dropVersion(name, v);
    await this.meta.deleteDataset(name);
  }
}
