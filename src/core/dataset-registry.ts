import { layoutOf, type DatasetLayout, type DatasetSpec } from './dataset.js';
import { SluiceError } from './errors.js';

export type DatasetOrigin = 'config' | 'api';

export interface RegisteredDataset {
  readonly layout: DatasetLayout;
  readonly origin: DatasetOrigin;
}

/**
 * The datasets Sluice knows: those of the config file and those created through the API. Holds each
 * one's layout so the hot path never recomputes column positions.
 */
export class DatasetRegistry {
  private readonly byName = new Map<string, RegisteredDataset>();

  add(spec: DatasetSpec, origin: DatasetOrigin): RegisteredDataset {
    const entry = { layout: layoutOf(spec), origin };
    this.byName.set(spec.name, entry);
    return entry;
  }

  remove(name: string): void {
    this.byName.delete(name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  find(name: string): RegisteredDataset | undefined {
    return this.byName.get(name);
  }

  /** The dataset, or a `dataset_not_found` error. */
  get(name: string): RegisteredDataset {
    const d = this.byName.get(name);
    if (!d)
      throw new SluiceError('dataset_not_found', `Unknown dataset '${name}'`, { details: { dataset: name } });
    return d;
  }

  list(): RegisteredDataset[] {
    return [...this.byName.values()].sort((a, b) => a.layout.spec.name.localeCompare(b.layout.spec.name));
  }
}
