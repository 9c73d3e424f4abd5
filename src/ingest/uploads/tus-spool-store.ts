import fs from 'node:fs';
import { fsyncAsync, writeFully } from '../../core/file-io.js';
import type { Readable } from 'node:stream';
import { DataStore, ERRORS, Upload } from '@tus/utils';
import type { MetaStore, UploadRow } from '../../store/meta-store.js';
import { ChecksumCheck, type ExpectedChecksum } from './tus-checksum.js';
import type { Spool } from './spool.js';

/** Without a checksum to verify, bytes of a long PATCH become durable (and processable) this often. */
const PROGRESS_BYTES = 8 * 1024 * 1024;

/** tus error answers: `status_code` and a text `body`, which @tus/server writes as they are. */
export const TUS_CHECKSUM_MISMATCH = { status_code: 460, body: 'Checksum mismatch\n' };

export interface TusStoreHooks {
  /** Bytes up to `offset` are durable; `complete` when that is the whole declared length. */
  durable(row: UploadRow, offset: number, complete: boolean): Promise<void>;
  /** The client terminated the upload (DELETE). */
  terminate(row: UploadRow): Promise<void>;
  /** The upload passed its expiration without completing. */
  expire(row: UploadRow): Promise<void>;
  /** The Upload-Checksum sent with the current PATCH of this upload, if any (taken once). */
  takeChecksum(uploadId: string): ExpectedChecksum | undefined;
}

/**
 * The tus DataStore over Sluice's own upload records: the MetaStore row is the upload's state (its
 * durable offset is `bytesReceived`), and the bytes go to the same spool file plain uploads use. So a
 * tus upload is the same resource as a plain one, and decoding reads it the same way.
 *
 * An offset is acknowledged only once its bytes are fsynced, and a PATCH whose checksum does not match
 * is truncated away before anything can read it: decoding never reads past the durable offset.
 */
export class TusSpoolStore extends DataStore {
  constructor(
    private readonly meta: MetaStore,
    private readonly spool: Spool,
    private readonly expirationMs: number,
    private readonly hooks: TusStoreHooks,
  ) {
    super();
    this.extensions = [
      'creation',
      'creation-with-upload',
      'creation-defer-length',
      'termination',
      'expiration',
      'checksum',
    ];
  }

  override async create(upload: Upload): Promise<Upload> {
    fs.writeFileSync(this.spool.pathOf(upload.id), '');
    if (upload.size !== undefined) await this.meta.updateUpload(upload.id, { uploadLength: upload.size });
    upload.creation_date = new Date().toISOString();
    if (upload.size === 0) await this.hooks.durable(await this.row(upload.id), 0, true);
    return upload;
  }

  override async getUpload(id: string): Promise<Upload> {
    const row = await this.row(id);
    if (row.status === 'failed' || row.status === 'cancelled') throw ERRORS.FILE_NO_LONGER_EXISTS;
    return new Upload({
      id,
      size: row.uploadLength ?? undefined,
      offset: row.bytesReceived,
      metadata: { dataset: row.dataset, filename: row.filename },
      creation_date: new Date(row.createdAt).toISOString(),
    });
  }

  override async declareUploadLength(id: string, length: number): Promise<void> {
    await this.meta.updateUpload(id, { uploadLength: length });
  }

  override async write(readable: Readable, id: string, offset: number): Promise<number> {
    const row = await this.row(id);
    if (row.receiveComplete) throw ERRORS.INVALID_OFFSET;
    const expected = this.hooks.takeChecksum(id);
    const check = expected ? new ChecksumCheck(expected) : null;
    const length = row.uploadLength;
    const fd = fs.openSync(this.spool.pathOf(id), 'r+');
    let written = offset;
    let durable = offset;
    const makeDurable = async (): Promise<void> => {
      // Off the event loop: an fsync of megabytes of fresh pages can take tens of milliseconds.
      await fsyncAsync(fd);
      durable = written;
      const complete = length !== null && durable === length;
      await this.meta.updateUpload(id, { bytesReceived: durable });
      await this.hooks.durable(row, durable, complete);
    };
    try {
      try {
        for await (const chunk of readable as AsyncIterable<Buffer>) {
          check?.update(chunk);
          // On libuv's pool: under writeback a write can block for milliseconds, too long for the event loop.
          await writeFully(fd, chunk, written);
          written += chunk.length;
          if (!check && written - durable >= PROGRESS_BYTES) await makeDurable();
        }
      } catch {
        // The body broke off (client gone): keep what arrived unless a checksum must cover it all.
        if (check) written = offset;
      }
      if (check && !check.matches()) {
        fs.ftruncateSync(fd, offset);
        throw TUS_CHECKSUM_MISMATCH;
      }
      if (written !== durable) await makeDurable();
      return durable;
    } finally {
      fs.closeSync(fd);
    }
  }

  override async remove(id: string): Promise<void> {
    await this.hooks.terminate(await this.row(id));
  }

  override async deleteExpired(): Promise<number> {
    const cutoff = Date.now() - this.expirationMs;
    let n = 0;
    for (const row of await this.meta.unfinishedUploads()) {
      if (row.protocol !== 'tus' || row.receiveComplete || row.createdAt > cutoff) continue;
      await this.hooks.expire(row);
      n++;
    }
    return n;
  }

  override getExpiration(): number {
    return this.expirationMs;
  }

  private async row(id: string): Promise<UploadRow> {
    const row = await this.meta.getUpload(id);
    if (!row || row.protocol !== 'tus') throw ERRORS.FILE_NOT_FOUND;
    return row;
  }
}
