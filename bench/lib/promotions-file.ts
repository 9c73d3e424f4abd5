/**
 * A header-less promotions snapshot: `id,price,expiration_date` with ids 1..N and times in Go's
 * `time.String()` layout (`2018-08-04 05:32:31 +0200 CEST`). Deterministic, so the expected record of any
 * id can be recomputed without keeping the file in memory.
 */
const BASE_MS = Date.UTC(2018, 7, 4, 3, 32, 31);

export function promotionPrice(id: number): number {
  return ((id * 7919) % 100_000) / 100;
}

export function promotionExpiration(id: number): string {
  // Local CEST wall time is UTC+2; render it by shifting the instant, then reading the UTC fields.
  const d = new Date(BASE_MS + (id % 31_536_000) * 1000 + 2 * 3_600_000);
  const p = (n: number) => String(n).padStart(2, '0');
  return (
    `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0200 CEST`
  );
}

/** `priceOffset` makes a second snapshot whose records differ from the first in every row. */
export function* promotionsFile(rows: number, chunkRows = 50_000, priceOffset = 0): Generator<string> {
  let out = '';
  for (let id = 1; id <= rows; id++) {
    out += `${id},${promotionPrice(id) + priceOffset},${promotionExpiration(id)}\n`;
    if (id % chunkRows === 0) {
      yield out;
      out = '';
    }
  }
  if (out) yield out;
}
