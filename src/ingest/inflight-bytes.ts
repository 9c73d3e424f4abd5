/**
 * Bytes accepted but not yet processed, per upload, so that admission can cap them per client and in
 * total. An upload counts from its first received byte until it finishes; what it holds is what it has
 * received minus what decoding has handed to the BatchLog.
 */
export class InflightBytes {
  private readonly uploads = new Map<string, { client: string; received: number; processed: number }>();
  /** Bytes per second that processing drains, smoothed over seconds (sizes Retry-After). */
  drainRate = 0;
  private window = { at: Date.now(), bytes: 0 };

  received(uploadId: string, client: string, bytes: number): void {
    const u = this.uploads.get(uploadId);
    if (u) u.received = Math.max(u.received, bytes);
    else this.uploads.set(uploadId, { client, received: bytes, processed: 0 });
  }

  /** Adds `n` bytes to what an upload streaming in has received. */
  add(uploadId: string, client: string, n: number): void {
    const u = this.uploads.get(uploadId);
    this.received(uploadId, client, (u?.received ?? 0) + n);
  }

  processed(uploadId: string, offset: number): void {
    const u = this.uploads.get(uploadId);
    if (!u || offset <= u.processed) return;
    this.window.bytes += offset - u.processed;
    u.processed = offset;
    const now = Date.now();
    const secs = (now - this.window.at) / 1000;
    if (secs >= 1) {
      const rate = this.window.bytes / secs;
      this.drainRate = this.drainRate === 0 ? rate : 0.7 * this.drainRate + 0.3 * rate;
      this.window = { at: now, bytes: 0 };
    }
  }

  release(uploadId: string): void {
    this.uploads.delete(uploadId);
  }

  ofClient(client: string): number {
    let n = 0;
    for (const u of this.uploads.values()) if (u.client === client) n += u.received - u.processed;
    return n;
  }

  total(): number {
    let n = 0;
    for (const u of this.uploads.values()) n += u.received - u.processed;
    return n;
  }
}
