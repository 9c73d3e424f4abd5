/**
 * Reads little-endian numbers from a buffer, front to back; the base of the binary decoders (batch
 * log records, statistics checkpoints). Reading past the end throws the error `truncated` makes, so
 * each format names its own damage.
 */
export class ByteCursor {
  pos = 0;
  protected readonly buf: Buffer;

  constructor(
    bytes: Uint8Array,
    private readonly truncated: () => Error,
  ) {
    this.buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get done(): boolean {
    return this.pos === this.buf.length;
  }

  protected need(n: number): void {
    if (n < 0 || this.pos + n > this.buf.length) throw this.truncated();
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  i32(): number {
    this.need(4);
    const v = this.buf.readInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  f64(): number {
    this.need(8);
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }
}
