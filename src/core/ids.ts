import { randomBytes } from 'node:crypto';

/**
 * Time-sortable ids (`<prefix>_<ms base36><random>`): listing newest-first is a plain sort, and an id
 * is also a pagination cursor. Only letters and digits after the prefix, so ids are safe in URLs and
 * file names.
 */
export function newId(prefix: string): string {
  const time = Date.now().toString(36).padStart(9, '0');
  const rand = randomBytes(8).toString('hex');
  return `${prefix}_${time}${rand}`;
}

const ID_PATTERN = /^[a-z]{1,8}_[0-9a-z]{9,40}$/;

export function isWellFormedId(id: string): boolean {
  return ID_PATTERN.test(id);
}
