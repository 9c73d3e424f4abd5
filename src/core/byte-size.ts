/** Bytes per unit as DuckDB reads them: KB, MB, ... are powers of 1000, KiB, MiB, ... of 1024. */
const UNIT_BYTES: Record<string, number> = {
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/** A size such as `512MB`, `1.5GB` or `256MiB`, the form DuckDB's size settings take. */
export const BYTE_SIZE_PATTERN = /^(\d+(?:\.\d+)?)\s*([KMGT]i?B)$/i;

/** Parses a size such as `512MB` or `2GiB` into bytes; undefined when malformed. */
export function parseByteSize(text: string): number | undefined {
  const m = BYTE_SIZE_PATTERN.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * UNIT_BYTES[m[2]!.toLowerCase()]!;
}
