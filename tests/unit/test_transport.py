"""The password transport, against the spec's vector and the openssl command line curl scripts use."""

from __future__ import annotations

import subprocess
from urllib.parse import quote, unquote

import pytest

from app.services.auth.transport import TransportError, decrypt, encrypt

OPENSSL = ["openssl", "enc", "-aes-256-cbc", "-md", "md5", "-pass", "pass:nanokvm-sipeed-2024", "-base64", "-A"]


def test_spec_vector() -> None:
    assert decrypt("U2FsdGVkX19SGFmZqrC%2FBTF14E9ikx5C4b0B1S6Ckpw%3D") == "admin"


@pytest.mark.parametrize("password", ["admin", "correct horse battery staple", "ünïcødé-密码", "x" * 72])
def test_openssl_encrypts_we_decrypt(password: str) -> None:
    wire = subprocess.run([*OPENSSL, "-salt"], input=password.encode(), capture_output=True, check=True).stdout
    assert decrypt(quote(wire.decode().strip(), safe="")) == password


@pytest.mark.parametrize("password", ["admin", "with spaces / and + signs=", "ünïcødé"])
def test_we_encrypt_openssl_decrypts(password: str) -> None:
    wire = unquote(encrypt(password))
    plain = subprocess.run([*OPENSSL, "-d"], input=wire.encode(), capture_output=True, check=True).stdout
    assert plain.decode() == password


def test_raw_plus_means_space_as_in_go() -> None:
    # A base64 '+' sent without URL-encoding becomes a space (Go's url.QueryUnescape), so it fails.
    wire = next(unquote(w) for w in (encrypt(f"p{i}") for i in range(200)) if "+" in unquote(w))
    with pytest.raises(TransportError):
        decrypt(wire)


@pytest.mark.parametrize(
    "wire",
    [
        "",
        "not base64!",
        "YWRtaW4=",  # base64 of "admin": no Salted__ header
        "U2FsdGVkX18=",  # header only
        "U2FsdGVkX19SGFmZqrC/BTF14E9ikx5C",  # salt + 8 bytes: not a multiple of 16
        "U2FsdGVkX19SGFmZqrC/BQ==",  # header and salt, empty ciphertext
    ],
)
def test_malformed_is_refused_not_crashed(wire: str) -> None:
    with pytest.raises(TransportError):
        decrypt(wire)


def test_wrong_key_fails_cleanly() -> None:
    # Random keys give random padding bytes; none of them may escape as anything but TransportError.
    for i in range(50):
        try:
            decrypt(encrypt(f"secret-{i}", passphrase=b"another key"))
        except TransportError:
            continue
