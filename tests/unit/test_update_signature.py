"""Update signatures (Ed25519ph against trusted keys) and the streaming multipart reader."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from Crypto.PublicKey import ECC

from app.services.update import signing
from app.services.update.multipart import MultipartError, Part, boundary_of, read_multipart


@pytest.fixture
def key() -> ECC.EccKey:
    return ECC.generate(curve="ed25519")


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    path = tmp_path / "nanokvm_1.0.0.tar.gz"
    path.write_bytes(bytes(range(256)) * 5000)  # over one hashing chunk
    return path


def keydir(tmp_path: Path, *keys: ECC.EccKey) -> Path:
    directory = tmp_path / "keys"
    directory.mkdir(parents=True, exist_ok=True)
    for number, key in enumerate(keys):
        (directory / f"k{number}.pub").write_text(key.public_key().export_key(format="PEM"))
    return directory


def test_a_trusted_signature_verifies_raw_or_base64(tmp_path: Path, key: ECC.EccKey, bundle: Path) -> None:
    signature = signing.sign_file(key, bundle)
    assert len(signature) == 64
    keys = signing.load_keys(keydir(tmp_path, ECC.generate(curve="ed25519"), key))
    assert len(keys) == 2
    signing.verify_file(bundle, signature, keys)
    signing.verify_file(bundle, base64.b64encode(signature) + b"\n", keys)


def test_refusals(tmp_path: Path, key: ECC.EccKey, bundle: Path) -> None:
    signature = signing.sign_file(key, bundle)
    keys = signing.load_keys(keydir(tmp_path, key))
    with pytest.raises(signing.SignatureError, match="no trusted update key"):
        signing.verify_file(bundle, signature, [])
    with pytest.raises(signing.SignatureError, match="not signed"):
        signing.verify_file(bundle, None, keys)
    with pytest.raises(signing.SignatureError, match="not signed"):
        signing.verify_file(bundle, b"", keys)
    for junk in (b"x" * 63, b"x" * 65, b"!!!!", base64.b64encode(b"x" * 32), b"A" * 10_000):
        with pytest.raises(signing.SignatureError, match="not a signature"):
            signing.verify_file(bundle, junk, keys)
    stranger = signing.load_keys(keydir(tmp_path / "other", ECC.generate(curve="ed25519")))
    with pytest.raises(signing.SignatureError, match="does not verify"):
        signing.verify_file(bundle, signature, stranger)
    data = bytearray(bundle.read_bytes())
    data[100_000] ^= 1
    bundle.write_bytes(bytes(data))
    with pytest.raises(signing.SignatureError, match="does not verify"):
        signing.verify_file(bundle, signature, keys)


def test_keys_that_are_not_ed25519_public_keys_are_ignored(tmp_path: Path, key: ECC.EccKey) -> None:
    directory = keydir(tmp_path, key)
    (directory / "private.pub").write_text(key.export_key(format="PEM"))  # a private key is never trusted
    (directory / "p256.pub").write_text(ECC.generate(curve="p256").public_key().export_key(format="PEM"))
    (directory / "junk.pub").write_text("junk")
    (directory / "ignored.txt").write_text(key.public_key().export_key(format="PEM"))
    assert len(signing.load_keys(directory)) == 1
    assert signing.load_keys(tmp_path / "missing") == []


def test_the_shipped_key_directory_exists() -> None:
    assert signing.SHIPPED_KEYS.is_dir()


def test_keygen_and_sign_tool(tmp_path: Path, bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert signing.main(["keygen", "release"]) == 0
    assert (tmp_path / "release.key").stat().st_mode & 0o077 == 0
    assert signing.main(["sign", "release.key", str(bundle)]) == 0
    keys = signing.load_keys(tmp_path)  # release.pub
    signing.verify_file(bundle, Path(f"{bundle}.sig").read_bytes(), keys)
    assert signing.main(["nonsense"]) == 2


# --- multipart ----------------------------------------------------------------------------------


async def chunked(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def form(boundary: str, *parts: tuple[str, str | None, bytes]) -> bytes:
    out = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


@pytest.mark.parametrize("size", [1, 2, 7, 64, 1 << 16])
async def test_multipart_parts_survive_any_chunking(size: int) -> None:
    boundary = "----b0undary"
    tricky = b"\r\n--" + b"----b0undar" + b"\r\n" * 3 + bytes(range(256))  # almost the delimiter
    body = form(
        boundary, ("file", "nanokvm_1.0.0.tar.gz", tricky * 50), ("signature", "x.sig", b"sig"), ("n", None, b"")
    )
    got: dict[str, bytearray] = {}
    names: list[Part] = []

    def open_part(part: Part) -> object:
        names.append(part)
        got[part.name] = bytearray()
        return got[part.name].extend

    await read_multipart(chunked(body, size), boundary.encode(), open_part)  # type: ignore[arg-type]
    assert got == {"file": tricky * 50, "signature": b"sig", "n": b""}
    assert names[0] == Part("file", "nanokvm_1.0.0.tar.gz")


@pytest.mark.parametrize(
    "body",
    [b"", b"no boundary at all", b"------b\r\nContent-Disposition: form-data\r\n\r\nx\r\n------b--", b"------b\r\nx"],
)
async def test_multipart_refuses_malformed_bodies(body: bytes) -> None:
    with pytest.raises(MultipartError):
        await read_multipart(chunked(body, 3), b"----b", lambda part: lambda data: None)


def test_boundary_header() -> None:
    assert boundary_of('multipart/form-data; boundary="abc"') == b"abc"
    assert boundary_of("multipart/form-data; charset=utf-8; boundary=xyz") == b"xyz"
    for bad in ("application/json", "multipart/form-data", "multipart/form-data; boundary=" + "x" * 80):
        with pytest.raises(MultipartError):
            boundary_of(bad)
