import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { SluiceError } from '../../core/errors.js';
import { HEADER, PREFIX, type Segment } from './segment-records.js';

const SEGMENT_RE = /^(\d{12})\.seg$/;

function segmentName(id: number): string {
  return `${String(id).padStart(12, '0')}.seg`;
}

/** Ids of the segment files in `dir`, oldest first. */
export async function listSegmentIds(dir: string): Promise<number[]> {
  return (await fs.promises.readdir(dir))
    .map((f) => SEGMENT_RE.exec(f))
    .filter((m) => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

export function openSegment(dir: string, id: number): Segment {
  const file = path.join(dir, segmentName(id));
  const fd = fs.openSync(file, 'r+');
  return { id, file, fd, size: fs.fstatSync(fd).size };
}

/** Creates a new, empty segment file; fails if one with this id exists. */
export function createSegmentFile(dir: string, id: number): Segment {
  const file = path.join(dir, segmentName(id));
  return { id, file, fd: fs.openSync(file, 'wx+'), size: 0 };
}

/**
 * Indexes a segment's records from `start`, calling `onRecord` for each. In a segment that may hold
 * unsynced writes (`mayBeTorn`: the last two), verifies each record and cuts a torn or corrupt end;
 * returns true when it cut one.
 */
export function scanSegment(
  seg: Segment,
  start: number,
  mayBeTorn: boolean,
  onRecord: (offset: number, size: number, appendedAt: number) => void,
): boolean {
  const header = Buffer.alloc(PREFIX);
  let pos = start;
  while (pos < seg.size) {
    if (!intactAt(seg, pos, header, mayBeTorn)) {
      if (!mayBeTorn) throw new SluiceError('internal', `batch log segment ${seg.file} is corrupt at ${pos}`);
      fs.ftruncateSync(seg.fd, pos);
      fs.fsyncSync(seg.fd);
      seg.size = pos;
      return true;
    }
    const size = HEADER + header.readUInt32LE(0);
    onRecord(pos, size, header.readDoubleLE(8));
    pos += size;
  }
  return false;
}

/** Whether a whole record starts at `pos` (read into `header`); `verify` also checks its crc. */
function intactAt(seg: Segment, pos: number, header: Buffer, verify: boolean): boolean {
  if (pos + PREFIX > seg.size || fs.readSync(seg.fd, header, 0, PREFIX, pos) !== PREFIX) return false;
  const len = header.readUInt32LE(0);
  if (len < PREFIX - HEADER || pos + HEADER + len > seg.size) return false;
  if (!verify) return true;
  const payload = Buffer.allocUnsafeSlow(len);
  if (fs.readSync(seg.fd, payload, 0, len, pos + HEADER) !== len) return false;
  return crc32(payload) === header.readUInt32LE(4);
}
