import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { tempDir } from '../helpers/harness.js';

const shipped = path.resolve(import.meta.dirname, '../../sluice.yaml');

describe('config', () => {
  it('ships the datasets of every scenario', () => {
    const { config } = loadConfig({ SLUICE_CONFIG: shipped });
    const byName = new Map(config.datasets.map((d) => [d.name, d]));
    expect([...byName.keys()].sort()).toEqual([
      'influencers',
      'promotions',
      'readings',
      'requests',
      'telematics',
    ]);
    expect(byName.get('promotions')!.mode).toBe('replace');
    expect(byName.get('promotions')!.csv.header).toBe('false');
    expect(byName.get('telematics')!.dedup).toBe('content');
    expect(byName.get('telematics')!.columns.find((c) => c.name === 'data')!.role).toBe('payload');
  });

  it('applies environment overrides over the file and freezes the result', () => {
    const dir = tempDir();
    const { config } = loadConfig({
      SLUICE_CONFIG: shipped,
      SLUICE_PORT: '9999',
      SLUICE_DATA_DIR: dir,
      SLUICE_LOG_LEVEL: 'warn',
    });
    expect(config.server.port).toBe(9999);
    expect(config.data_dir).toBe(dir);
    expect(config.log_level).toBe('warn');
    expect(Object.isFrozen(config.server)).toBe(true);
  });

  it('reports the file, the path and the reason', () => {
    const dir = tempDir();
    const file = path.join(dir, 'bad.yaml');
    fs.writeFileSync(
      file,
      'datasets:\n  - name: x\n    columns:\n      - { name: k, role: key }\n      - { name: v, type: string, role: field }\n',
    );
    expect(() => loadConfig({ SLUICE_CONFIG: file })).toThrow(
      `${file}: datasets.0.columns.1.type: a field column has type number or integer`,
    );
  });

  it('takes a CSV header flag as a YAML boolean or as text', () => {
    const dir = tempDir();
    const file = path.join(dir, 'bool.yaml');
    fs.writeFileSync(
      file,
      'datasets:\n  - name: x\n    csv: { header: true }\n    columns:\n      - { name: k, role: key }\n',
    );
    expect(loadConfig({ SLUICE_CONFIG: file }).config.datasets[0]!.csv.header).toBe('true');
  });

  it('grows V8 heaps by 150 % past their live size unless told otherwise, and bounds the setting', () => {
    expect(loadConfig({ SLUICE_CONFIG: shipped }).config.server.heap_growing_percent).toBe(150);
    const dir = tempDir();
    const file = path.join(dir, 'heap.yaml');
    fs.writeFileSync(file, 'server:\n  heap_growing_percent: 0\n');
    expect(loadConfig({ SLUICE_CONFIG: file }).config.server.heap_growing_percent).toBe(0);
    fs.writeFileSync(file, 'server:\n  heap_growing_percent: -5\n');
    expect(() => loadConfig({ SLUICE_CONFIG: file })).toThrow(`${file}: server.heap_growing_percent`);
  });

  it("leaves DuckDB's thread count to DuckDB unless told, and takes only a positive integer", () => {
    expect(loadConfig({ SLUICE_CONFIG: shipped }).config.storage.duckdb_threads).toBeUndefined();
    const dir = tempDir();
    const file = path.join(dir, 'threads.yaml');
    fs.writeFileSync(file, 'storage:\n  duckdb_threads: 1\n');
    expect(loadConfig({ SLUICE_CONFIG: file }).config.storage.duckdb_threads).toBe(1);
    for (const bad of ['0', '1.5', 'all']) {
      fs.writeFileSync(file, `storage:\n  duckdb_threads: ${bad}\n`);
      expect(() => loadConfig({ SLUICE_CONFIG: file })).toThrow(`${file}: storage.duckdb_threads`);
    }
  });

  it('takes a checkpoint threshold as a size, and leaves it unset by default', () => {
    expect(loadConfig({ SLUICE_CONFIG: shipped }).config.storage.duckdb_checkpoint_threshold).toBeUndefined();
    const dir = tempDir();
    const file = path.join(dir, 'wal.yaml');
    fs.writeFileSync(file, 'storage:\n  duckdb_checkpoint_threshold: 128MB\n');
    expect(loadConfig({ SLUICE_CONFIG: file }).config.storage.duckdb_checkpoint_threshold).toBe('128MB');
    fs.writeFileSync(file, 'storage:\n  duckdb_checkpoint_threshold: lots\n');
    expect(() => loadConfig({ SLUICE_CONFIG: file })).toThrow(
      `${file}: storage.duckdb_checkpoint_threshold: a size such as 512MB or 2GB`,
    );
  });

  it('reports YAML syntax errors with a line number', () => {
    const dir = tempDir();
    const file = path.join(dir, 'broken.yaml');
    fs.writeFileSync(file, 'server:\n  port: [1, 2\n');
    expect(() => loadConfig({ SLUICE_CONFIG: file })).toThrow(new RegExp(`${file}:\\d+:\\d+`));
  });

  it('rejects unknown options and a missing explicit file', () => {
    const dir = tempDir();
    const file = path.join(dir, 'typo.yaml');
    fs.writeFileSync(file, 'sever:\n  port: 1\n');
    expect(() => loadConfig({ SLUICE_CONFIG: file })).toThrow(/sever/);
    expect(() => loadConfig({ SLUICE_CONFIG: path.join(dir, 'nope.yaml') })).toThrow(/not found/);
  });
});
