import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeBatch } from '../../src/log/local/batch-codec.js';
import { HotRecords } from '../../src/log/local/hot-records.js';
import { PREFIX, type RecordRef, writeRecord } from '../../src/log/local/segment-records.js';
import { createSegmentFile } from '../../src/log/local/segment-scan.js';
import { makeTestBatch } from '../conformance/batch-log.js';

const dirs: string[] = [];
const fds: number[] = [];
afterEach(() => {
  for (const fd of fds.splice(0)) fs.closeSync(fd);
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** Writes each payload as a record of a fresh segment, as the batch log does. */
async function writtenRecords(payloads: Uint8Array[]): Promise<RecordRef[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-hot-'));
  dirs.push(dir);
  const seg = createSegmentFile(dir, 1);
  fds.push(seg.fd);
  const refs: RecordRef[] = [];
  for (const [i, payload] of payloads.entries()) {
    const size = await writeRecord(seg, Buffer.alloc(PREFIX), payload, 1000 + i);
    refs.push({ no: i + 1, segment: seg, offset: seg.size, size, appendedAt: 1000 + i });
    seg.size += size;
  }
  return refs;
}

describe('HotRecords', () => {
  it('delivers a kept payload from memory once, then reads the record from its segment', async () => {
    const payload = encodeBatch(makeTestBatch('up1', 0, 50));
    const [ref] = await writtenRecords([payload]);
    const hot = new HotRecords(1 << 20);
    hot.keep(ref!, payload);
    expect(hot.size).toBe(payload.length);

    const first = await hot.take(ref!);
    expect(first.encoded).toBe(payload); // decoded from the very bytes kept
    expect(hot.size).toBe(0);
    expect(ref!.payload).toBeUndefined();

    const again = await hot.take(ref!); // a redelivery after a failure
    expect(again.encoded).not.toBe(payload);
    expect(again.id).toBe(first.id);
    expect([...again.fields[0]!]).toEqual([...first.fields[0]!]);
  });

  it('keeps no more bytes than its bound; the others are read back', async () => {
    const payloads = [0, 1, 2].map((seq) => encodeBatch(makeTestBatch('up1', seq, 50)));
    const refs = await writtenRecords(payloads);
    const hot = new HotRecords(payloads[0]!.length * 2 + 1);
    refs.forEach((ref, i) => hot.keep(ref, payloads[i]!));
    expect(hot.size).toBe(payloads[0]!.length + payloads[1]!.length);
    expect(refs[2]!.payload).toBeUndefined();

    const batches = await Promise.all(refs.map((ref) => hot.take(ref)));
    expect(batches.map((b) => b.seq)).toEqual([0, 1, 2]);
    expect(batches[2]!.encoded).not.toBe(payloads[2]);
    expect(hot.size).toBe(0);
  });

  it('releases a payload that is dropped without being read', async () => {
    const payload = encodeBatch(makeTestBatch('up1', 0, 10));
    const [ref] = await writtenRecords([payload]);
    const hot = new HotRecords(1 << 20);
    hot.keep(ref!, payload);
    hot.drop(ref!);
    hot.drop(ref!);
    expect(hot.size).toBe(0);
    expect(ref!.payload).toBeUndefined();
  });
});
