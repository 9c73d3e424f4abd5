import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, auth, startHarness, upload, waitForUpload, type Harness } from '../helpers/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

const HEADER = 'device_id,timestamp,value';

describe('uploads: reports and reject reasons', () => {
  it('answers 201 with Location, then reports exact counts per reason with file line numbers', async () => {
    const lines = [
      HEADER, // 1
      'dev-1,2024-03-01T00:00:00Z,1.5', // 2 ok
      'dev-1,2024-03-01T00:01:00Z,abc', // 3 not_a_number
      ',2024-03-01T00:02:00Z,2', // 4 missing_key
      'dev-2,yesterday,2', // 5 bad_time
      'dev-2,2024-03-01T00:03:00Z', // 6 column_count
      'dev-2,1990-01-01T00:00:00Z,3', // 7 time_out_of_window
      'dev-2,2024-03-01T00:04:00Z,4', // 8 ok
      'dev-2,2024-03-01T00:04:00Z,4', // 9 duplicate of 8
      'dev-3,2024-03-01T00:05:00Z,', // 10 missing_value
    ];
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/datasets/readings/uploads',
      headers: { ...auth, 'content-type': 'text/csv' },
      payload: lines.join('\n') + '\n',
    });
    expect(res.statusCode).toBe(201);
    const created = res.json();
    expect(res.headers.location).toBe(`/v1/uploads/${created.id}`);
    expect(created).toMatchObject({ dataset: 'readings' });
    expect(['queued', 'processing', 'done']).toContain(created.status);

    const report = await waitForUpload(h.app, created.id);
    expect(report.status).toBe('done');
    expect(report.rows).toEqual({ total: 9, valid: 2, invalid: 6, duplicate: 1 });
    expect(report.rejects_by_reason).toEqual({
      not_a_number: 1,
      missing_key: 1,
      bad_time: 1,
      column_count: 1,
      time_out_of_window: 1,
      missing_value: 1,
    });
    const byLine = Object.fromEntries(report.rejects.map((r: any) => [r.line, r.reason]));
    expect(byLine).toEqual({
      3: 'not_a_number',
      4: 'missing_key',
      5: 'bad_time',
      6: 'column_count',
      7: 'time_out_of_window',
      10: 'missing_value',
    });
    expect(report.rejects.find((r: any) => r.line === 3)).toMatchObject({ column: 'value', raw: lines[2] });

    const csv = await h.app.inject({
      method: 'GET',
      url: `/v1/uploads/${created.id}/rejects`,
      headers: auth,
    });
    expect(csv.headers['content-type']).toMatch(/text\/csv/);
    const csvLines = csv.body.trim().split('\n');
    expect(csvLines[0]).toBe('line,reason,column,raw');
    expect(csvLines).toHaveLength(7);
    expect(csvLines[1]).toBe(`3,not_a_number,value,"${lines[2]}"`);
  });

  it('rejects binary garbage and overlong lines as rows, and keeps serving', async () => {
    const garbage = Buffer.from([0x00, 0xff, 0xfe, 0x12, 0x80, 0x2c, 0x01, 0x0a]);
    const long = 'dev-9,2024-03-01T00:00:00Z,' + '9'.repeat(1024 * 1024 + 10);
    const body = Buffer.concat([
      Buffer.from(`${HEADER}\n`),
      garbage,
      Buffer.from(`${long}\ndev-9,2024-03-01T00:00:00Z,7\n`),
    ]);
    const up = await upload(h.app, 'readings', body);
    const report = await waitForUpload(h.app, up.id);
    expect(report.status).toBe('done');
    expect(report.rows.valid).toBe(1);
    expect(report.rejects_by_reason.line_too_long).toBe(1);
    expect(report.rows.invalid).toBe(2);
    const reasons = report.rejects.map((r: any) => [r.line, r.reason]);
    expect(reasons).toContainEqual([3, 'line_too_long']);
    expect((await h.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it('rejects a key holding the composite-key separator U+001F', async () => {
    const up = await upload(
      h.app,
      'readings',
      `${HEADER}\nsep\u001fkey,2024-03-01T00:00:00Z,1\nok-1,2024-03-01T00:00:00Z,1\n`,
    );
    const report = await waitForUpload(h.app, up.id);
    expect(report.rows).toMatchObject({ valid: 1, invalid: 1 });
    expect(report.rejects[0]).toMatchObject({ line: 2, reason: 'bad_key', column: 'device_id' });
  });

  it('accepts NDJSON and multipart bodies', async () => {
    const nd = await h.app.inject({
      method: 'POST',
      url: '/v1/datasets/readings/uploads',
      headers: { ...auth, 'content-type': 'application/x-ndjson' },
      payload:
        '{"device_id":"nd-1","timestamp":"2024-03-02T00:00:00Z","value":5}\n{"device_id":"nd-1"}\nnot json\n',
    });
    expect(nd.statusCode).toBe(201);
    const ndReport = await waitForUpload(h.app, nd.json().id);
    expect(ndReport.rows).toMatchObject({ total: 3, valid: 1, invalid: 2 });
    expect(ndReport.rejects_by_reason.bad_json).toBe(1);

    const boundary = '----sluice-test';
    const payload =
      `--${boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="r.csv"\r\nContent-Type: text/csv\r\n\r\n` +
      `${HEADER}\nmp-1,2024-03-02T00:00:00Z,1\nmp-1,2024-03-02T00:01:00Z,2\n\r\n--${boundary}--\r\n`;
    const mp = await h.app.inject({
      method: 'POST',
      url: '/v1/datasets/readings/uploads',
      headers: { ...auth, 'content-type': `multipart/form-data; boundary=${boundary}` },
      payload,
    });
    expect(mp.statusCode).toBe(201);
    const mpReport = await waitForUpload(h.app, mp.json().id);
    expect(mpReport.filename).toBe('r.csv');
    expect(mpReport.rows).toMatchObject({ total: 2, valid: 2, invalid: 0 });
  });

  it('counts an Idempotency-Key retry once', async () => {
    const body = `${HEADER}\nidem-1,2024-03-03T00:00:00Z,1\nidem-1,2024-03-03T00:01:00Z,2\n`;
    const first = await upload(h.app, 'readings', body, { 'idempotency-key': 'k-123' });
    const second = await upload(h.app, 'readings', body, { 'idempotency-key': 'k-123' });
    expect(second.id).toBe(first.id);
    const report = await waitForUpload(h.app, first.id);
    expect(report.rows).toMatchObject({ total: 2, valid: 2, duplicate: 0 });
    await h.sluice.settle();
    const stats = await h.app.inject({
      method: 'GET',
      url: '/v1/datasets/readings/stats?device_id=idem-1',
      headers: auth,
    });
    expect(stats.json().fields.value.count).toBe(2);
    const list = await h.app.inject({
      method: 'GET',
      url: '/v1/uploads?dataset=readings&status=done',
      headers: auth,
    });
    expect(list.json().uploads.filter((u: any) => u.idempotency_key === 'k-123')).toHaveLength(1);
  });
});

describe('bad requests get problem+json with stable codes', () => {
  const cases: [string, () => Promise<any>, number, string][] = [
    [
      'wrong content type',
      () =>
        h.app.inject({
          method: 'POST',
          url: '/v1/datasets/readings/uploads',
          headers: { ...auth, 'content-type': 'application/json' },
          payload: '{"a":1}',
        }),
      415,
      'unsupported_media_type',
    ],
    [
      'unknown dataset',
      () =>
        h.app.inject({
          method: 'POST',
          url: '/v1/datasets/nope/uploads',
          headers: { ...auth, 'content-type': 'text/csv' },
          payload: 'a\n',
        }),
      404,
      'dataset_not_found',
    ],
    [
      'empty body',
      () =>
        h.app.inject({
          method: 'POST',
          url: '/v1/datasets/readings/uploads',
          headers: { ...auth, 'content-type': 'text/csv' },
          payload: '',
        }),
      400,
      'empty_body',
    ],
    ['missing key', () => h.app.inject({ method: 'GET', url: '/v1/datasets' }), 401, 'unauthorized'],
    [
      'bad key',
      () => h.app.inject({ method: 'GET', url: '/v1/datasets', headers: { authorization: 'Bearer nope' } }),
      401,
      'unauthorized',
    ],
    [
      'unknown upload',
      () => h.app.inject({ method: 'GET', url: '/v1/uploads/up_zzzzzzzzzzzz', headers: auth }),
      404,
      'upload_not_found',
    ],
    [
      'unknown route',
      () => h.app.inject({ method: 'GET', url: '/v1/nothing', headers: auth }),
      404,
      'not_found',
    ],
  ];
  for (const [name, call, status, code] of cases) {
    it(`${name} → ${status} ${code}`, async () => {
      const res = await call();
      expect(res.statusCode).toBe(status);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(res.json()).toMatchObject({ status, code });
    });
  }

  it('a reader key cannot upload (403), a writer key can', async () => {
    const mk = async (role: string) =>
      (
        await h.app.inject({
          method: 'POST',
          url: '/v1/keys',
          headers: auth,
          payload: { name: `${role}-key`, role },
        })
      ).json().key as string;
    const reader = await mk('reader');
    const writer = await mk('writer');
    const body = `${HEADER}\nw-1,2024-03-01T00:00:00Z,1\n`;
    const denied = await h.app.inject({
      method: 'POST',
      url: '/v1/datasets/readings/uploads',
      headers: { authorization: `Bearer ${reader}`, 'content-type': 'text/csv' },
      payload: body,
    });
    expect(denied.statusCode).toBe(403);
    expect(denied.json().code).toBe('forbidden');
    const ok = await h.app.inject({
      method: 'POST',
      url: '/v1/datasets/readings/uploads',
      headers: { authorization: `Bearer ${writer}`, 'content-type': 'text/csv' },
      payload: body,
    });
    expect(ok.statusCode).toBe(201);
    expect(ok.json().client).not.toBe(ADMIN);
  });
});

describe('seed-compatible facades', () => {
  it('POST /send-data uploads to readings and answers 201', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/send-data',
      headers: { ...auth, 'content-type': 'text/csv' },
      payload: `${HEADER}\nfacade-1,2024-04-01T00:00:00Z,3\n`,
    });
    expect(res.statusCode).toBe(201);
    expect(res.json().dataset).toBe('readings');
    expect((await waitForUpload(h.app, res.json().id)).rows.valid).toBe(1);
  });

  it('serves the facades without a key only when auth.open_facades is set', async () => {
    expect((await h.app.inject({ method: 'GET', url: '/promotions/1' })).statusCode).toBe(401);
    const open = await startHarness({ config: { auth: { open_facades: true } } });
    try {
      const res = await open.app.inject({
        method: 'POST',
        url: '/send-data',
        headers: { 'content-type': 'text/csv' },
        payload: `${HEADER}\nopen-1,2024-04-01T00:00:00Z,3\n`,
      });
      expect(res.statusCode).toBe(201);
      expect(res.json().client).toBe('facade');
      const missing = await open.app.inject({ method: 'GET', url: '/promotions/404' });
      expect(missing.statusCode).toBe(404);
      expect(missing.json().code).toBe('record_not_found');
      expect((await open.app.inject({ method: 'GET', url: '/v1/datasets' })).statusCode).toBe(401);
    } finally {
      await open.close();
    }
  });
});
