import { createHash, type Hash } from 'node:crypto';

/** Algorithms of the tus checksum extension we verify, by their tus names. */
export const TUS_CHECKSUM_ALGORITHMS = ['sha1', 'sha256', 'md5'] as const;
type Algorithm = (typeof TUS_CHECKSUM_ALGORITHMS)[number];

export interface ExpectedChecksum {
  algorithm: Algorithm;
  /** The digest the client sent, base64-decoded. */
  digest: Buffer;
}

/**
 * Parses an `Upload-Checksum` header (`<algorithm> <base64 digest>`). Returns an error message for a
 * malformed header or an algorithm we do not support (both answered 400, per the tus spec).
 */
export function parseUploadChecksum(header: string): ExpectedChecksum | string {
  const [name, b64, extra] = header.trim().split(/\s+/);
  if (!name || !b64 || extra !== undefined) return 'Upload-Checksum must be "<algorithm> <base64 digest>"';
  const algorithm = name.toLowerCase();
  if (!(TUS_CHECKSUM_ALGORITHMS as readonly string[]).includes(algorithm))
    return `Unsupported checksum algorithm '${name}'; supported: ${TUS_CHECKSUM_ALGORITHMS.join(', ')}`;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return 'The Upload-Checksum digest is not base64';
  return { algorithm: algorithm as Algorithm, digest: Buffer.from(b64, 'base64') };
}

/** Hashes a PATCH body as it streams, to compare with the expected digest at its end. */
export class ChecksumCheck {
  private readonly hash: Hash;

  constructor(private readonly expected: ExpectedChecksum) {
    this.hash = createHash(expected.algorithm);
  }

  update(chunk: Buffer): void {
    this.hash.update(chunk);
  }

  matches(): boolean {
    return this.hash.digest().equals(this.expected.digest);
  }
}
