import type { FastifyInstance } from 'fastify';
import { SluiceError } from '../../core/errors.js';
import type { Sluice } from '../../runtime.js';

const MAX_SAMPLES = 100_000;

/**
 * `GET /influencer_analytics/{id}?start_time&end_time` (epoch seconds, end exclusive): the influencer's
 * follower and following series in the window, one point per sample, and their averages. Reads the
 * `influencers` dataset that the entity-poll connector fills.
 */
export function influencerAnalyticsFacade(app: FastifyInstance, sluice: Sluice): void {
  app.get<{ Params: { id: string }; Querystring: { start_time?: string; end_time?: string } }>(
    '/influencer_analytics/:id',
    {
      config: { access: sluice.config.auth.open_facades ? 'public' : 'reader' },
      schema: {
        tags: ['facades'],
        summary: 'Follower and following counts of one influencer in [start_time, end_time), with averages',
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string' } } },
        querystring: {
          type: 'object',
          properties: { start_time: { type: 'string' }, end_time: { type: 'string' } },
        },
      },
    },
    async (req) => {
      const start = seconds('start_time', req.query.start_time, 0);
      const end = seconds('end_time', req.query.end_time, Math.floor(Date.now() / 1000) + 1);
      if (end <= start) throw new SluiceError('bad_query', 'end_time must be after start_time');
      const { layout } = sluice.registry.get('influencers');
      const keyColumn = layout.keys[0]!.name;
      const fields = ['follower_count', 'following_count'];
      const points = await sluice.series.series(layout, {
        keys: { [keyColumn]: [req.params.id] },
        fromUs: start * 1e6,
        toUs: end * 1e6,
        agg: 'last',
        fields,
        limit: MAX_SAMPLES,
      });
      points.sort((a, b) => a.timeUs - b.timeUs);
      const series = (i: number) =>
        points.map((p) => ({ time: Math.round(p.timeUs / 1e6), value: p.values[i] ?? null }));
      const average = (i: number) => {
        const vals = points.map((p) => p.values[i]).filter((v): v is number => v !== null && v !== undefined);
        return vals.length > 0 ? vals.reduce((a, b) => a + b, 0) / vals.length : null;
      };
      return {
        influencer_id: req.params.id,
        start_time: start,
        end_time: end,
        samples: points.length,
        follower_count: series(0),
        following_count: series(1),
        average_follower_count: average(0),
        average_following_count: average(1),
      };
    },
  );
}

function seconds(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new SluiceError('bad_query', `${name} must be epoch seconds`);
  return Math.floor(n);
}
