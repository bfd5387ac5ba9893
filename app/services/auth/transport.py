"""NanoKVM's password transport (spec 2.2): CryptoJS/OpenSSL ``Salted__`` AES-256-CBC.

The key is a public constant, so this is obfuscation, not confidentiality; we implement it because
every client encrypts passwords this way. Key and IV come from OpenSSL's EVP_BytesToKey with one
round of MD5. The client URL-encodes the base64 text; the server URL-decodes it first (with ``+``
meaning space, as Go's ``url.QueryUnescape`` does).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from urllib.parse import quote, unquote_plus

from Crypto.Cipher import AES
from Crypto.Util.Padding import pad

PASSPHRASE = b"nanokvm-sipeed-2024"
_MAGIC = b"Salted__"


class TransportError(ValueError):
    """The encrypted password could not be decrypted."""


def _key_iv(passphrase: bytes, salt: bytes) -> tuple[bytes, bytes]:
    derived = b""
    block = b""
    while len(derived) < 48:
        block = hashlib.md5(block + passphrase + salt).digest()  # noqa: S324 - the wire format demands MD5
        derived += block
    return derived[:32], derived[32:48]


def decrypt(wire: str, passphrase: bytes = PASSPHRASE) -> str:
    """Decrypt a password as sent on the wire. Raises TransportError on any malformed input."""
    try:
        raw = base64.b64decode(unquote_plus(wire), validate=True)
    except (binascii.Error, ValueError):
        raise TransportError("not base64") from None
    if len(raw) < 16 or not raw.startswith(_MAGIC):
        raise TransportError("missing Salted__ header")
    body = raw[16:]
    if not body or len(body) % 16:
        raise TransportError("ciphertext length is not a multiple of the block size")
    key, iv = _key_iv(passphrase, raw[8:16])
    plain = AES.new(key, AES.MODE_CBC, iv).decrypt(body)
    pad_len = plain[-1]
    # NanoKVM strips by the last byte only; we also refuse impossible padding instead of panicking.
    if not 1 <= pad_len <= 16:
        raise TransportError("bad padding")
    try:
        text = plain[:-pad_len].decode("utf-8")
    except UnicodeDecodeError:
        raise TransportError("not UTF-8") from None
    if not text:
        raise TransportError("empty password")
    return text


def encrypt(plain: str, passphrase: bytes = PASSPHRASE, salt: bytes | None = None) -> str:
    """Encrypt as the web client does, URL-encoded (used by tests and our own tools)."""
    salt = os.urandom(8) if salt is None else salt
    key, iv = _key_iv(passphrase, salt)
    body = AES.new(key, AES.MODE_CBC, iv).encrypt(pad(plain.encode("utf-8"), 16))
    return quote(base64.b64encode(_MAGIC + salt + body).decode("ascii"), safe="")
