"""Update signatures: Ed25519ph (RFC 8032) over the whole bundle, against keys shipped with the firmware.

The bundle is hashed in chunks (SHA-512, Ed25519's prehash), so a 1 GiB bundle is never held in
memory. A signature file holds the 64 signature bytes, raw or base64-encoded (one line).

``python -m app.services.update.signing keygen NAME`` writes NAME.key and NAME.pub;
``python -m app.services.update.signing sign NAME.key BUNDLE`` writes BUNDLE.sig.
"""

from __future__ import annotations

import base64
import binascii
import logging
import sys
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from Crypto.Hash import SHA512
from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa

log = logging.getLogger(__name__)

# Package data (importlib.resources): a directory in the checkout, a zip member in the zipapp.
SHIPPED_KEYS = files(__package__ or __name__) / "keys"
CONTEXT = b"nanokvm-py update"
SIGNATURE_MAX = 4096  # bytes of a signature file
CHUNK = 1 << 20


class SignatureError(Exception):
    """Why a bundle is not trusted, in words for the API's answer."""


def load_keys(directory: Traversable) -> list[ECC.EccKey]:
    """Every Ed25519 public key (``*.pub``) in ``directory``; unusable files are skipped with a warning."""
    keys: list[ECC.EccKey] = []
    if not directory.is_dir():
        return keys
    for path in sorted((p for p in directory.iterdir() if p.name.endswith(".pub")), key=lambda p: p.name):
        try:
            key = ECC.import_key(path.read_text(encoding="ascii"))
        except (OSError, ValueError, UnicodeDecodeError, IndexError):
            log.warning("update key %s is not a PEM public key: ignored", path)
            continue
        if key.curve != "Ed25519" or key.has_private():
            log.warning("update key %s is not an Ed25519 public key: ignored", path)
            continue
        keys.append(key)
    return keys


def decode_signature(data: bytes) -> bytes:
    if len(data) == 64:
        return data
    if len(data) > SIGNATURE_MAX:
        raise SignatureError("the signature file is not a signature")
    try:
        raw = base64.b64decode(data.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("the signature file is not a signature") from None
    if len(raw) != 64:
        raise SignatureError("the signature file is not a signature")
    return raw


def digest(path: Path) -> SHA512.SHA512Hash:
    hasher = SHA512.new()
    with path.open("rb") as bundle:
        while chunk := bundle.read(CHUNK):
            hasher.update(chunk)
    return hasher


def verify_file(path: Path, signature: bytes | None, keys: list[ECC.EccKey]) -> None:
    """Raise SignatureError unless ``signature`` is a trusted key's signature of the file."""
    if not keys:
        raise SignatureError("no trusted update key is installed")
    if not signature:
        raise SignatureError("the bundle is not signed")
    raw = decode_signature(signature)
    hashed = digest(path)
    for key in keys:
        try:
            eddsa.new(key, "rfc8032", context=CONTEXT).verify(hashed, raw)
        except ValueError:
            continue
        return
    raise SignatureError("the signature does not verify against a trusted key")


def sign_file(private_key: ECC.EccKey, path: Path) -> bytes:
    signer = eddsa.new(private_key, "rfc8032", context=CONTEXT)
    return bytes(signer.sign(digest(path)))


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "keygen":
        key = ECC.generate(curve="ed25519")
        private = Path(f"{argv[1]}.key")
        private.write_text(key.export_key(format="PEM"))
        private.chmod(0o600)
        Path(f"{argv[1]}.pub").write_text(key.public_key().export_key(format="PEM") + "\n")
        print(f"wrote {private} (secret) and {argv[1]}.pub")
        return 0
    if len(argv) == 3 and argv[0] == "sign":
        key = ECC.import_key(Path(argv[1]).read_text())
        bundle = Path(argv[2])
        signature = Path(f"{bundle}.sig")
        signature.write_text(base64.b64encode(sign_file(key, bundle)).decode() + "\n")
        print(f"wrote {signature}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
