import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const KEY_FILE = 'secret.key';
const VERSION = 'v1';

/**
 * Encrypts connector credentials at rest with AES-256-GCM. The key comes from `SLUICE_SECRET_KEY`
 * (64 hex characters, or any passphrase, hashed to 32 bytes), else from `<data dir>/secret.key`, which is
 * generated on first use with mode 0600 like `admin.key`. Losing the key makes stored credentials
 * unreadable: connectors then stop with a `credentials` stoppage until they are set again.
 */
export class CredentialVault {
  private constructor(private readonly key: Buffer) {}

  static open(dataDir: string, secret: string | undefined): CredentialVault {
    if (secret) return new CredentialVault(keyOf(secret));
    const file = path.join(dataDir, KEY_FILE);
    if (!fs.existsSync(file)) {
      fs.mkdirSync(dataDir, { recursive: true });
      // wx: two processes racing to create it cannot both win and then disagree.
      try {
        fs.writeFileSync(file, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
    }
    return new CredentialVault(keyOf(fs.readFileSync(file, 'utf8').trim()));
  }

  /** `v1:<iv>:<tag>:<ciphertext>`, base64url parts; the connector id is bound as associated data. */
  seal(plain: string, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return [VERSION, iv, cipher.getAuthTag(), body]
      .map((p) => (typeof p === 'string' ? p : b64(p)))
      .join(':');
  }

  /** The plain text, or throws when the key or the context differs (tampered or re-keyed). */
  open(sealed: string, context: string): string {
    const [version, iv, tag, body] = sealed.split(':');
    if (version !== VERSION || !iv || !tag || body === undefined)
      throw new Error('sealed credentials are malformed');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString(
      'utf8',
    );
  }
}

function keyOf(secret: string): Buffer {
  return /^[0-9a-f]{64}$/i.test(secret)
    ? Buffer.from(secret, 'hex')
    : createHash('sha256').update(secret).digest();
}

function b64(b: Buffer): string {
  return b.toString('base64url');
}
