import { gzipSync } from 'node:zlib';
import { HttpError, InfluxDB, Point, setLogger } from '@influxdata/influxdb-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, type Harness, auth, startHarness } from '../helpers/harness.js';

/** Real HTTP: the unmodified InfluxDB client against a listening Sluice. */
describe('InfluxDB line protocol writes', () => {
  let h: Harness;
  let base: string;
  let readerKey: string;
  beforeAll(async () => {
    // The client logs failed writes itself; the tests check them.
    setLogger({ error: () => {}, warn: () => {} });
    h = await startHarness();
    base = await h.app.listen({ port: 0, host: '127.0.0.1' });
    const res = await h.app.inject({
      method: 'POST',
      url: '/v1/keys',
      headers: auth,
      payload: { name: 'ro', role: 'reader' },
    });
    readerKey = res.json().key;
  });
  afterAll(async () => h.close());

  const query = async (url: string) => (await h.app.inject({ url, headers: auth })).json();
  const writeApi = (precision: 'ns' | 'ms' | 's' = 'ns', token = ADMIN) =>
    new InfluxDB({ url: base, token }).getWriteApi('my-org', 'my-bucket', precision, {
      maxRetries: 0,
      flushInterval: 0,
    });

  it('the official client (WriteApi) writes a new measurement, which becomes a queryable dataset', async () => {
    const api = writeApi('ns');
    const t0 = 1_700_000_000_000_000_000n;
    const points: Point[] = [];
    for (let i = 0; i < 200; i++)
      points.push(
        new Point('cpu')
          .tag('host', i % 2 === 0 ? 'h1' : 'h2')
          .floatField('usage_idle', i / 2)
          .intField('procs', i)
          .stringField('state', 'ok')
          .timestamp(String(t0 + BigInt(i) * 1_000_000_000n)),
      );
    api.writePoints(points); // ~10 KB: the client gzips it
    await api.close();
    const ds = await query('/v1/datasets/cpu');
    expect(ds.columns.map((c: { name: string; role: string }) => `${c.name}:${c.role}`)).toEqual([
      'host:key',
      'time:time',
      'procs:field', // the client sorts fields by name
      'state:attribute',
      'usage_idle:field',
    ]);
    const series = await query('/v1/datasets/cpu/series?host=h1&host=h2&field=procs&limit=1000');
    expect(series.series).toHaveLength(2);
    const h1 = series.series.find((s: { key: { host: string } }) => s.key.host === 'h1');
    expect(h1.points).toHaveLength(100);
    expect(h1.points[0]).toEqual({ time: '2023-11-14T22:13:20.000Z', procs: 0 });
    const stats = await query('/v1/datasets/cpu/stats?host=h2');
    expect(stats.fields.usage_idle).toMatchObject({ count: 100, min: 0.5, max: 99.5 });
  });

  it('maps tags and fields onto an existing dataset, with the precision given', async () => {
    const api = writeApi('ms');
    const t = Date.now() - 60_000;
    api.writeRecords([
      `requests,user_id=u1,endpoint=/a,status_code=200 latency_ms=12.5,request_id="r1" ${t}`,
      `requests,user_id=u1,endpoint=/a,status_code=200 latency_ms=7.5,request_id="r2" ${t + 1}`,
    ]);
    await api.close();
    const stats = await query('/v1/datasets/requests/stats?endpoint=/a');
    expect(stats.fields.latency_ms).toMatchObject({ count: 2, min: 7.5, max: 12.5 });
    const latest = await query('/v1/datasets/requests/records/u1?endpoint=/a&status_code=200');
    expect(latest.record).toMatchObject({ request_id: 'r2', latency_ms: 7.5 });
  });

  it('a client retry of the same batch is stored once', async () => {
    for (let i = 0; i < 2; i++) {
      const api = writeApi('s');
      api.writeRecord('retry,host=x v=1 1700000000');
      await api.close();
    }
    expect((await query('/v1/datasets/retry/stats?host=x')).fields.v.count).toBe(1);
  });

  it('answers 400 partial_write for bad lines and stores the good ones', async () => {
    const api = writeApi('s');
    api.writeRecords(['mixed,host=a v=1 1700000000', 'mixed,host=a v=', 'mixed,host=a v=2 1700000001']);
    const err = await api.close().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).statusCode).toBe(400);
    const body = JSON.parse((err as HttpError).body!);
    expect(body).toMatchObject({ code: 'partial_write', rejected: 1, written: 2 });
    expect(body.message).toMatch(/line 2: unable to parse 'mixed,host=a v=': missing field value/);
    expect((await query('/v1/datasets/mixed/stats?host=a')).fields.v.count).toBe(2);
  });

  it('rejects a line whose tag or field the dataset lacks (unknown_columns: reject)', async () => {
    const res = await fetch(`${base}/api/v2/write?bucket=b&precision=s`, {
      method: 'POST',
      headers: { authorization: `Token ${ADMIN}` },
      body: 'mixed,host=b v=3 1700000000\nmixed,host=b,extra=1 v=4 1700000001\n',
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as any;
    expect(body).toMatchObject({ code: 'partial_write', written: 1, rejected: 1 });
    expect(body.errors[0]).toMatchObject({ line: 2 });
    expect(body.errors[0].message).toMatch(/'extra' is not a column/);
  });

  it('v1 /write with u/p, Basic and Token auth and v1 precisions', async () => {
    const post = (path: string, body: string, headers: Record<string, string> = {}) =>
      fetch(`${base}${path}`, { method: 'POST', headers, body });
    const m = 1_700_000_000 / 60;
    let res = await post(
      `/write?db=telegraf&precision=m&u=any&p=${ADMIN}`,
      `v1m,host=a v=1 ${Math.floor(m)}`,
    );
    expect(res.status).toBe(204);
    const basic = Buffer.from(`telegraf:${ADMIN}`).toString('base64');
    res = await post('/write?db=telegraf&precision=h', 'v1m,host=b v=2 472222', {
      authorization: `Basic ${basic}`,
    });
    expect(res.status).toBe(204);
    res = await post('/write?db=telegraf&precision=u', 'v1m,host=c v=3 1700000000000001', {
      authorization: `Token ${ADMIN}`,
      'content-encoding': 'gzip',
    });
    expect(res.status).toBe(400); // the header says gzip but the body is not
    res = await fetch(`${base}/write?db=telegraf&precision=u`, {
      method: 'POST',
      headers: { authorization: `Token ${ADMIN}`, 'content-encoding': 'gzip' },
      body: gzipSync('v1m,host=c v=3 1700000000000001\n'),
    });
    expect(res.status).toBe(204);
    const c = await query('/v1/datasets/v1m/series?host=c');
    expect(c.series[0].points[0].time).toBe('2023-11-14T22:13:20.000Z');
    const b = await query('/v1/datasets/v1m/series?host=b');
    expect(b.series[0].points[0].time).toBe(new Date(472222 * 3600_000).toISOString());
  });

  it("accepts Telegraf's CREATE DATABASE on /query as a no-op and refuses other InfluxQL", async () => {
    const basic = Buffer.from(`telegraf:${ADMIN}`).toString('base64');
    const form = (q: string) =>
      fetch(`${base}/query`, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ q }).toString(),
      });
    let res = await form('CREATE DATABASE "telegraf"');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ results: [{ statement_id: 0 }] });
    res = await fetch(`${base}/query?q=${encodeURIComponent('CREATE DATABASE x')}&u=a&p=${ADMIN}`, {
      method: 'POST',
    });
    expect(res.status).toBe(200);
    res = await form('SELECT * FROM cpu');
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).code).toBe('bad_query');
  });

  it('401 without a valid key, 403 for a reader, 400 for a missing bucket or db', async () => {
    const post = (path: string, headers: Record<string, string> = {}) =>
      fetch(`${base}${path}`, { method: 'POST', headers, body: 'm v=1' });
    const res = await post('/api/v2/write?bucket=b');
    expect(res.status).toBe(401);
    const body = (await res.json()) as any;
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(body).toMatchObject({ code: 'unauthorized' });
    expect(typeof body.message).toBe('string');
    expect((await post('/api/v2/write?bucket=b', { authorization: 'Token nope' })).status).toBe(401);
    expect((await post(`/write?db=x&u=a&p=nope`)).status).toBe(401);
    expect((await post('/api/v2/write?bucket=b', { authorization: `Token ${readerKey}` })).status).toBe(403);
    expect((await post(`/write?db=x&p=${readerKey}`)).status).toBe(403);
    expect((await post('/api/v2/write', { authorization: `Token ${ADMIN}` })).status).toBe(400);
    expect((await post('/write', { authorization: `Token ${ADMIN}` })).status).toBe(400);
    expect(
      (await post('/api/v2/write?bucket=b&precision=m', { authorization: `Token ${ADMIN}` })).status,
    ).toBe(400);
    // `p` is a key only on /write; elsewhere the header is required.
    expect((await fetch(`${base}/v1/datasets?p=${ADMIN}`)).status).toBe(401);
    expect((await fetch(`${base}/ping`)).status).toBe(204);
  });

  it('counts write requests, bytes, lines and created datasets in /metrics', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(/sluice_write_requests_total\{api="influx_v2",status="204"\} [1-9]/);
    expect(text).toMatch(/sluice_write_requests_total\{api="influx_v1",status="204"\} [1-9]/);
    expect(text).toMatch(/sluice_line_protocol_lines_total\{outcome="rejected"\} [1-9]/);
    expect(text).toMatch(/sluice_line_protocol_datasets_created_total [1-9]/);
    expect(text).toMatch(/sluice_write_bytes_total\{api="influx_v2"\} [1-9]/);
  });

  it('refuses lines for a replace-mode dataset and for a measurement that cannot become a dataset', async () => {
    const res = await fetch(`${base}/api/v2/write?bucket=b`, {
      method: 'POST',
      headers: { authorization: `Token ${ADMIN}` },
      body: 'promotions,id=1 price=2\n',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).errors[0].message).toMatch(/replace mode/);
  });
});
