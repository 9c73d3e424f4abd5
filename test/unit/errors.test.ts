import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERRORS, REJECT_REASONS, SluiceError } from '../../src/core/errors.js';

const apiDoc = fs.readFileSync(path.resolve(import.meta.dirname, '../../docs/api.md'), 'utf8');

describe('errors module', () => {
  it('gives every error code a 4xx/5xx status and documents it in docs/api.md', () => {
    for (const [code, def] of Object.entries(ERRORS)) {
      expect(def.status, code).toBeGreaterThanOrEqual(400);
      expect(apiDoc, `docs/api.md lacks ${code}`).toContain(`\`${code}\``);
    }
  });

  it('documents every reject reason in docs/api.md', () => {
    for (const reason of Object.keys(REJECT_REASONS)) expect(apiDoc, reason).toContain(`\`${reason}\``);
  });

  it('keeps codes and reasons distinct', () => {
    const all = [...Object.keys(ERRORS), ...Object.keys(REJECT_REASONS)];
    expect(new Set(all).size).toBe(all.length);
  });

  it('makes errors Error subclasses that carry code, status and retry intent', () => {
    const e = new SluiceError('rate_limited', 'slow down', { retryAfter: 2 });
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('rate_limited');
    expect(e.status).toBe(429);
    expect(e.retriable).toBe(true);
    expect(new SluiceError('forbidden').retriable).toBe(false);
  });
});
