import { ByteCursor } from '../core/byte-cursor.js';
import { SluiceError } from '../core/errors.js';

/**
 * Little-endian byte writer and reader for statistics checkpoints: numbers, strings and byte
 * blobs, with a length before each variable part. A reader that runs past the end or meets a bad
 * tag throws `internal`: a checkpoint that does not read back is discarded and rebuilt from rows.
 */
export class StatsWriter {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private pos = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }

  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(v, this.pos);
    this.pos += 4;
  }

  f64(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }

  /** `count` doubles of `from`, starting at `at`. */
  f64s(from: Float64Array, at: number, count: number): void {
    this.ensure(8 * count);
    for (let i = 0; i < count; i++) this.buf.writeDoubleLE(from[at + i]!, this.pos + 8 * i);
    this.pos += 8 * count;
  }

  text(s: string): void {
    const n = Buffer.byteLength(s);
    this.u32(n);
    this.ensure(n);
    this.buf.write(s, this.pos);
    this.pos += n;
  }

  bytes(b: Uint8Array): void {
    this.u32(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** The bytes written so far (a copy the caller owns). */
  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}

export class StatsReader extends ByteCursor {
  constructor(bytes: Uint8Array) {
    super(bytes, () => new SluiceError('internal', 'statistics checkpoint is truncated'));
  }

  f64s(into: Float64Array, at: number, count: number): void {
    this.need(8 * count);
    for (let i = 0; i < count; i++) into[at + i] = this.buf.readDoubleLE(this.pos + 8 * i);
    this.pos += 8 * count;
  }

  text(): string {
    const n = this.u32();
    this.need(n);
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  bytes(): Uint8Array {
    const n = this.u32();
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
}
