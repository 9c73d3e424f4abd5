import { describe, expect, it } from 'vitest';
import { BYTE_SIZE_PATTERN, parseByteSize } from '../../src/core/byte-size.js';
import { checkpointThresholdFor } from '../../src/store/duckdb/duckdb-instance-config.js';

describe('byte sizes', () => {
  it('reads decimal and binary units as DuckDB does', () => {
    expect(parseByteSize('512MB')).toBe(512e6);
    expect(parseByteSize('1.5GB')).toBe(1.5e9);
    expect(parseByteSize('256MiB')).toBe(256 * 2 ** 20);
    expect(parseByteSize('2 gib')).toBe(2 * 2 ** 30);
    expect(parseByteSize('1TB')).toBe(1e12);
  });

  it('refuses what is not a size, as the config pattern does', () => {
    for (const bad of ['', '512', 'MB', '1,5GB', '-1MB', '1 PB', 'lots']) {
      expect(parseByteSize(bad)).toBeUndefined();
      expect(BYTE_SIZE_PATTERN.test(bad)).toBe(false);
    }
    expect(BYTE_SIZE_PATTERN.test('1.5GB')).toBe(true);
  });
});

describe('the DuckDB checkpoint threshold', () => {
  it('is a quarter of the memory limit, between 16MB and 256MB', () => {
    expect(checkpointThresholdFor('1GB')).toBe('250MB');
    expect(checkpointThresholdFor('256MB')).toBe('64MB');
    expect(checkpointThresholdFor('512MiB')).toBe('134MB');
    expect(checkpointThresholdFor('8GB')).toBe('256MB');
    expect(checkpointThresholdFor('32MB')).toBe('16MB');
    expect(checkpointThresholdFor(undefined)).toBe('256MB');
  });
});
