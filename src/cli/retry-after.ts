/**
 * How long to wait before retrying: the server's `Retry-After` (seconds or an HTTP date) when it sent
 * one, else exponential backoff with full jitter, capped.
 */
export function retryDelayMs(attempt: number, retryAfter: string | null | undefined, capMs = 10_000): number {
  if (retryAfter) {
    const secs = Number(retryAfter);
    if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
    const at = Date.parse(retryAfter);
    if (Number.isFinite(at)) return Math.max(0, at - Date.now());
  }
  return Math.random() * Math.min(capMs, 250 * 2 ** attempt);
}

/** Statuses worth retrying: the server is busy, restarting, or briefly unable to accept the request. */
export function isRetriableStatus(status: number): boolean {
  return (
    status === 0 || status === 408 || status === 409 || status === 423 || status === 429 || status >= 500
  );
}
