import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it, expect, afterEach, vi } from 'vitest';
import type { ColumnarBatch } from '../../src/core/batch.js';
import { LocalBatchLog, type LocalBatchLogOptions } from '../../src/log/local/local-batch-log.js';
import { makeTestBatch, runBatchLogConformance } from './batch-log.js';

async function openLog(opts: LocalBatchLogOptions): Promise<LocalBatchLog> {
  const log = new LocalBatchLog(opts);
  await log.init();
  return log;
}

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-'));
}

runBatchLogConformance('local', async () => {
  const dir = tempDir();
  const opts = { dir, retryInitialMs: 5, retryMaxMs: 20 };
  return {
    log: await openLog(opts),
    reopen: () => openLog(opts),
    cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }),
  };
});

describe('LocalBatchLog', () => {
  const dirs: string[] = [];
  const logs: LocalBatchLog[] = [];
  const open = async (opts: Partial<LocalBatchLogOptions> & { dir: string }): Promise<LocalBatchLog> => {
    const log = await openLog({ retryInitialMs: 5, retryMaxMs: 20, ...opts });
    logs.push(log);
    return log;
  };
  const newDir = (): string => {
    const dir = tempDir();
    dirs.push(dir);
    return dir;
  };
  const segments = (dir: string): string[] =>
    fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.seg'))
      .sort();
  const consumeAll = async (log: LocalBatchLog): Promise<string[]> => {
    const ids: string[] = [];
    log.consume(async (b) => {
      ids.push(b.id);
    });
    await log.drained();
    return ids;
  };

  afterEach(async () => {
    vi.restoreAllMocks();
    for (const log of logs.splice(0)) await log.close();
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('rotates segments and deletes them once every record in them is acknowledged', async () => {
    const dir = newDir();
    const log = await open({ dir, segmentBytes: 20_000 });
    for (let i = 0; i < 12; i++) await log.append(makeTestBatch('rot', i, 100));
    const before = segments(dir);
    expect(before.length).toBeGreaterThan(3);
    const ids = await consumeAll(log);
    expect(ids).toHaveLength(12);
    // The tail stays for further appends; every closed segment is gone.
    expect(segments(dir)).toStrictEqual([before.at(-1)]);
    await log.append(makeTestBatch('rot', 12, 100));
    await log.append(makeTestBatch('rot', 13, 100));
    await log.drained();
    await log.close();
    const again = await open({ dir, segmentBytes: 20_000 });
    expect(again.stats().backlogBatches).toBe(0);
    await again.append(makeTestBatch('rot', 14, 1));
    expect(await consumeAll(again)).toStrictEqual(['rot:14']);
  });

  it('truncates garbage after the last whole record and keeps appending after it', async () => {
    const dir = newDir();
    const log = await open({ dir });
    for (let i = 0; i < 3; i++) await log.append(makeTestBatch('torn', i, 20));
    await log.close();
    const seg = path.join(dir, segments(dir)[0]!);
    const goodSize = fs.statSync(seg).size;
    fs.appendFileSync(seg, Buffer.from([0x10, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7]));
    const reopened = await open({ dir });
    expect(fs.statSync(seg).size).toBe(goodSize);
    await reopened.append(makeTestBatch('torn', 3, 20));
    await reopened.close();
    const last = await open({ dir });
    expect(await consumeAll(last)).toStrictEqual(['torn:0', 'torn:1', 'torn:2', 'torn:3']);
  });

  it('drops a half-written or corrupted final record', async () => {
    const dir = newDir();
    const log = await open({ dir });
    for (let i = 0; i < 3; i++) await log.append(makeTestBatch('cut', i, 20));
    await log.close();
    const seg = path.join(dir, segments(dir)[0]!);
    fs.truncateSync(seg, fs.statSync(seg).size - 7);
    expect(await consumeAll(await open({ dir }))).toStrictEqual(['cut:0', 'cut:1']);

    const dir2 = newDir();
    const log2 = await open({ dir: dir2 });
    for (let i = 0; i < 3; i++) await log2.append(makeTestBatch('flip', i, 20));
    await log2.close();
    const seg2 = path.join(dir2, segments(dir2)[0]!);
    const bytes = fs.readFileSync(seg2);
    bytes[bytes.length - 5] ^= 0xff; // full length, wrong checksum
    fs.writeFileSync(seg2, bytes);
    expect(await consumeAll(await open({ dir: dir2 }))).toStrictEqual(['flip:0', 'flip:1']);
  });

  it('refuses to open when a segment older than the last two is damaged, instead of skipping data', async () => {
    const dir = newDir();
    const log = await open({ dir, segmentBytes: 3_000 });
    for (let i = 0; i < 6; i++) await log.append(makeTestBatch('bad', i, 20));
    await log.close();
    expect(segments(dir).length).toBeGreaterThan(2);
    const first = path.join(dir, segments(dir)[0]!);
    fs.truncateSync(first, fs.statSync(first).size - 10);
    await expect(openLog({ dir })).rejects.toThrow(/corrupt/);
  });

  it('cuts a segment torn before its roll was synced, and drops the newer one', async () => {
    const dir = newDir();
    const log = await open({ dir, segmentBytes: 3_000 });
    for (let i = 0; i < 6; i++) await log.append(makeTestBatch('roll', i, 20));
    await log.close();
    const names = segments(dir);
    // As if the machine stopped after the roll, before the group fsync reached the older segment.
    const older = path.join(dir, names.at(-2)!);
    fs.truncateSync(older, fs.statSync(older).size - 10);
    const reopened = await open({ dir, segmentBytes: 3_000 });
    expect(segments(dir)).not.toContain(names.at(-1));
    const ids = await consumeAll(reopened);
    expect(ids.length).toBeGreaterThan(0);
    expect(ids.length).toBeLessThan(6);
    expect(ids).toStrictEqual(ids.map((_, i) => `roll:${i}`));
  });

  it('rolls to a new segment without an fsync on the appending thread', async () => {
    const dir = newDir();
    const sync = vi.spyOn(fs, 'fsyncSync');
    try {
      const log = await open({ dir, segmentBytes: 3_000 });
      for (let i = 0; i < 6; i++) await log.append(makeTestBatch('nosync', i, 20));
      expect(segments(dir).length).toBeGreaterThan(2);
      expect(sync).not.toHaveBeenCalled();
      await log.close();
    } finally {
      sync.mockRestore();
    }
  });

  it('redelivers the batch whose handler was running when the process died', async () => {
    const dir = newDir();
    const crashed = new LocalBatchLog({ dir });
    await crashed.init();
    for (let i = 0; i < 3; i++) await crashed.append(makeTestBatch('crash', i, 10));
    let release: () => void = () => undefined;
    const stuck = new Promise<void>((r) => (release = r));
    const firstRun: string[] = [];
    crashed.consume(async (b) => {
      firstRun.push(b.id);
      if (b.seq === 1) {
        await stuck;
        throw new Error('process died');
      }
    });
    await vi.waitFor(() => expect(firstRun).toStrictEqual(['crash:0', 'crash:1']));
    await vi.waitFor(() => expect(fs.existsSync(path.join(dir, 'consumer.json'))).toBe(true));
    // A second instance over the same files sees what a restart would see.
    const restarted = await open({ dir });
    expect(await consumeAll(restarted)).toStrictEqual(['crash:1', 'crash:2']);
    release();
    await crashed.close();
  });

  it('shares one fsync between appends made within the group-commit window', async () => {
    const dir = newDir();
    const log = await open({ dir, groupCommitMs: 20 });
    const fsync = vi.spyOn(fs, 'fsync');
    await Promise.all(Array.from({ length: 10 }, (_, i) => log.append(makeTestBatch('gc', i, 10))));
    expect(fsync).toHaveBeenCalledTimes(1);
    fsync.mockClear();
    const solo = await open({ dir: newDir(), groupCommitMs: 0 });
    for (let i = 0; i < 4; i++) await solo.append(makeTestBatch('solo', i, 10));
    expect(fsync).toHaveBeenCalledTimes(4);
  });

  it('reports handler errors with the batch and keeps the ack file at the last success', async () => {
    const dir = newDir();
    const errors: [unknown, ColumnarBatch | null][] = [];
    const log = await open({ dir, onError: (err, batch) => errors.push([err, batch]) });
    await log.append(makeTestBatch('err', 0, 5));
    await log.append(makeTestBatch('err', 1, 5));
    let fail = true;
    log.consume(async (b) => {
      if (b.seq === 1 && fail) throw new Error('store down');
    });
    await vi.waitFor(() => expect(errors.length).toBeGreaterThanOrEqual(2));
    expect((errors[0]![0] as Error).message).toBe('store down');
    expect(errors[0]![1]?.id).toBe('err:1');
    const ack = JSON.parse(fs.readFileSync(path.join(dir, 'consumer.json'), 'utf8')) as { offset: number };
    expect(log.stats().backlogBatches).toBe(1);
    fail = false;
    await log.drained();
    const after = JSON.parse(fs.readFileSync(path.join(dir, 'consumer.json'), 'utf8')) as { offset: number };
    expect(after.offset).toBeGreaterThan(ack.offset);
  });

  it('keeps lag across a restart, from the time of append', async () => {
    const dir = newDir();
    const log = await open({ dir });
    await log.append(makeTestBatch('lag', 0, 5));
    await log.close();
    await new Promise((r) => setTimeout(r, 40));
    const reopened = await open({ dir });
    expect(reopened.stats().lagMs).toBeGreaterThanOrEqual(35);
  });

  it('drops a record whose write fails halfway, and the records around it survive in order', async () => {
    const dir = newDir();
    const log = await open({ dir });
    await log.append(makeTestBatch('io', 0, 20));
    // The next record's write stops after half its bytes, then the disk is full.
    const realWrite = fs.write;
    let fault: 'armed' | 'failing' | 'off' = 'armed';
    type WriteDone = (err: NodeJS.ErrnoException | null, n: number) => void;
    vi.spyOn(fs, 'write').mockImplementation(((
      fd: number,
      buf: Uint8Array,
      off: number,
      len: number,
      pos: number,
      cb: WriteDone,
    ) => {
      if (fault === 'armed') {
        fault = 'failing';
        return realWrite(fd, buf, off, Math.floor(len / 2), pos, cb);
      }
      if (fault === 'failing') {
        fault = 'off';
        const err: NodeJS.ErrnoException = new Error('ENOSPC: no space left on device');
        err.code = 'ENOSPC';
        return setImmediate(() => cb(err, 0));
      }
      return realWrite(fd, buf, off, len, pos, cb);
    }) as unknown as typeof fs.write);

    await expect(log.append(makeTestBatch('io', 1, 20))).rejects.toMatchObject({ code: 'store_unavailable' });
    expect(log.stats().backlogBatches).toBe(1);
    await log.append(makeTestBatch('io', 2, 20));
    await log.close();

    const reopened = await open({ dir });
    expect(reopened.stats().backlogBatches).toBe(2);
    expect(await consumeAll(reopened)).toEqual(['io:0', 'io:2']);
  });
});
