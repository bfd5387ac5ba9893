// Password transport obfuscation, wire-compatible with NanoKVM (spec §2.2).
// CryptoJS passphrase mode = OpenSSL "Salted__" format (EVP_BytesToKey/MD5,
// AES-256-CBC, PKCS#7), base64, then encodeURIComponent.
// Import only the AES module (it pulls in core, cipher-core, evpkdf, md5,
// base64) to keep the bundle small; never import the whole 'crypto-js'.
import AES from 'crypto-js/aes';

export const PASSWORD_KEY = 'nanokvm-sipeed-2024';

export function encryptPassword(plain: string): string {
  const cipher = AES.encrypt(plain, PASSWORD_KEY).toString();
  return encodeURIComponent(cipher);
}
