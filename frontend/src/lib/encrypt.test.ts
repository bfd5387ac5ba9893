import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import AES from 'crypto-js/aes';
import Utf8 from 'crypto-js/enc-utf8';
import { encryptPassword, PASSWORD_KEY } from './encrypt';

function opensslDecrypt(b64: string): string {
  return execFileSync(
    'openssl',
    ['enc', '-d', '-aes-256-cbc', '-md', 'md5', '-pass', `pass:${PASSWORD_KEY}`, '-base64', '-A'],
    { input: b64, stdio: ['pipe', 'pipe', 'ignore'] }, // stderr: 'deprecated key derivation' noise
  ).toString('utf8');
}

let haveOpenssl = true;
try {
  execFileSync('openssl', ['version'], { stdio: 'ignore' });
} catch {
  haveOpenssl = false;
}

const samples = ['admin', 'correct horse battery staple', 'p+a/s=s%w&o?r#d', 'пароль-密码-🔑', 'x'.repeat(72)];

describe('encryptPassword', () => {
  it('produces URL-encoded OpenSSL Salted__ base64', () => {
    const wire = encryptPassword('admin');
    expect(wire).not.toMatch(/[+/=]/); // encodeURIComponent applied
    const b64 = decodeURIComponent(wire);
    expect(b64.startsWith('U2FsdGVkX1')).toBe(true); // base64("Salted__")
    expect(Buffer.from(b64, 'base64').subarray(0, 8).toString('latin1')).toBe('Salted__');
  });

  it('uses a random salt each time', () => {
    expect(encryptPassword('admin')).not.toBe(encryptPassword('admin'));
  });

  it.each(samples)('round-trips %s through crypto-js decrypt', (plain) => {
    const b64 = decodeURIComponent(encryptPassword(plain));
    expect(AES.decrypt(b64, PASSWORD_KEY).toString(Utf8)).toBe(plain);
  });

  it.skipIf(!haveOpenssl).each(samples)('decrypts with openssl enc -md md5: %s', (plain) => {
    const b64 = decodeURIComponent(encryptPassword(plain));
    expect(opensslDecrypt(b64)).toBe(plain);
  });

  it('decrypts the spec test vector the same way the server does', () => {
    const wire = 'U2FsdGVkX19SGFmZqrC%2FBTF14E9ikx5C4b0B1S6Ckpw%3D';
    expect(AES.decrypt(decodeURIComponent(wire), PASSWORD_KEY).toString(Utf8)).toBe('admin');
    if (haveOpenssl) expect(opensslDecrypt(decodeURIComponent(wire))).toBe('admin');
  });
});
