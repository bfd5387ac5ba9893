"""HTTPS on/off with a per-device self-signed certificate (spec 3, 4.2 ``POST /api/vm/tls``).

The certificate is made in-process: an EC P-256 key from pycryptodome (a dependency already) and a
small DER encoder for the X.509 structure, signed ECDSA-SHA256. Nothing is executed, so it works the
same on the board and the sim board, needs no ``openssl`` binary on the image and no ``cryptography``
wheel (no Rust toolchain for RISC-V). NanoKVM makes RSA-2048; P-256 is as widely accepted and takes
milliseconds instead of many seconds on the board's CPU. Names: ``localhost``, the device hostname and
``<hostname>.local``, 127.0.0.1 and ::1; valid 10 years.

Enabling writes ``/etc/kvm/server.crt`` (0644) and ``/etc/kvm/server.key`` (0600) unless both are
already there (re-enabling keeps the certificate a browser was told to trust), then sets
``proto: https`` and the two paths in ``server.yaml``; disabling sets ``proto: http``. The yaml is
edited line by line so its comments survive; if that edit does not parse back to the intended values
the file is rewritten through yaml (as NanoKVM always does). The change applies at the next start.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import re
import secrets
from pathlib import Path
from typing import Any

import yaml
from Crypto.Hash import SHA256
from Crypto.PublicKey import ECC
from Crypto.Signature import DSS

from app.errors import Failed
from app.paths import DeviceRoot, atomic_write, read_text
from app.services.system.settings import HOSTNAME_RE

CERT = "/etc/kvm/server.crt"
KEY = "/etc/kvm/server.key"
SERVER_YAML = "/etc/kvm/server.yaml"
VALID_DAYS = 3650

# --- a minimal DER encoder (only what a certificate needs) -----------------------------------------


def _tlv(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes([tag, size]) + body
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + body


def _seq(*parts: bytes) -> bytes:
    return _tlv(0x30, b"".join(parts))


def _int(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))  # a leading 0 keeps it positive


def _oid(dotted: str) -> bytes:
    first, second, *rest = (int(part) for part in dotted.split("."))
    body = bytearray([40 * first + second])
    for number in rest:
        chunk = [number & 0x7F]
        number >>= 7
        while number:
            chunk.append(0x80 | (number & 0x7F))
            number >>= 7
        body.extend(reversed(chunk))
    return _tlv(0x06, bytes(body))


def _time(moment: datetime.datetime) -> bytes:
    if moment.year < 2050:  # RFC 5280: UTCTime through 2049, GeneralizedTime after
        return _tlv(0x17, moment.strftime("%y%m%d%H%M%SZ").encode())
    return _tlv(0x18, moment.strftime("%Y%m%d%H%M%SZ").encode())


def _name(common_name: str) -> bytes:
    attribute = _seq(_oid("2.5.4.3"), _tlv(0x0C, common_name.encode()))
    return _seq(_tlv(0x31, attribute))


def _extension(oid: str, value: bytes, critical: bool = False) -> bytes:
    return _seq(_oid(oid), *([_tlv(0x01, b"\xff")] if critical else []), _tlv(0x04, value))


def _pem(label: str, der: bytes) -> str:
    text = base64.b64encode(der).decode()
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


ECDSA_SHA256 = _seq(_oid("1.2.840.10045.4.3.2"))


def make_certificate(hostname: str) -> tuple[bytes, bytes]:
    """A self-signed certificate and its key, both PEM: (certificate, PKCS#8 private key)."""
    key = ECC.generate(curve="P-256")
    dns = ["localhost"]
    if HOSTNAME_RE.fullmatch(hostname) and hostname != "localhost":
        dns += [hostname, f"{hostname}.local"]
    names = [_tlv(0x82, name.encode("ascii")) for name in dns]
    names += [_tlv(0x87, ipaddress.ip_address(ip).packed) for ip in ("127.0.0.1", "::1")]
    public = key.public_key().export_key(format="DER")
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    tbs = _seq(
        _tlv(0xA0, _int(2)),  # v3
        _int(secrets.randbits(127) | 1),
        ECDSA_SHA256,
        _name(dns[1] if len(dns) > 1 else dns[0]),
        _seq(_time(now - datetime.timedelta(days=1)), _time(now + datetime.timedelta(days=VALID_DAYS))),
        _name(dns[1] if len(dns) > 1 else dns[0]),
        public,
        _tlv(
            0xA3,
            _seq(
                _extension("2.5.29.17", _seq(*names)),  # subjectAltName
                _extension("2.5.29.19", _seq()),  # basicConstraints: not a CA
                _extension("2.5.29.15", _tlv(0x03, b"\x07\x80"), critical=True),  # keyUsage: digitalSignature
                _extension("2.5.29.37", _seq(_oid("1.3.6.1.5.5.7.3.1"))),  # extKeyUsage: serverAuth
                _extension("2.5.29.14", _tlv(0x04, SHA256.new(public).digest()[:20])),  # subjectKeyIdentifier
            ),
        ),
    )
    signature = DSS.new(key, "fips-186-3", encoding="der").sign(SHA256.new(tbs))
    certificate = _seq(tbs, ECDSA_SHA256, _tlv(0x03, b"\x00" + signature))
    return _pem("CERTIFICATE", certificate).encode(), key.export_key(format="PEM").encode()


# --- server.yaml -----------------------------------------------------------------------------------


def _folded(data: dict[Any, Any], key: str) -> Any:
    """viper's keys are case-insensitive: the value under any spelling of ``key``."""
    for name, value in data.items():
        if str(name).casefold() == key:
            return value
    return None


def _has(text: str, proto: str, cert: tuple[str, str] | None) -> bool:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    if not isinstance(data, dict) or _folded(data, "proto") != proto:
        return False
    if cert is None:
        return True
    section = _folded(data, "cert")
    return isinstance(section, dict) and (_folded(section, "crt"), _folded(section, "key")) == cert


def edit_server_yaml(text: str, proto: str, cert: tuple[str, str] | None) -> str:
    """``text`` with ``proto`` (and the ``cert`` paths when given) set, comments kept where possible."""
    lines = text.splitlines()
    top = re.compile(r"(?i)^proto\s*:")
    at = next((i for i, line in enumerate(lines) if top.match(line)), None)
    if at is None:
        lines.insert(0, f"proto: {proto}")
    else:
        comment = re.search(r"\s#.*$", lines[at])
        lines[at] = f"proto: {proto}" + (f"  {comment.group().strip()}" if comment else "")
    if cert is not None:
        block = ["cert:", f"    crt: {json.dumps(cert[0])}", f"    key: {json.dumps(cert[1])}"]
        start = next((i for i, line in enumerate(lines) if re.match(r"(?i)^cert\s*:", line)), None)
        if start is None:
            lines += block
        else:
            end = start + 1
            while end < len(lines) and lines[end][:1] in (" ", "\t"):
                end += 1
            lines[start:end] = block
    edited = "\n".join(lines) + "\n"
    if _has(edited, proto, cert):
        return edited
    data = yaml.safe_load(text) if text.strip() else {}  # the fallback: NanoKVM's whole-file rewrite
    if not isinstance(data, dict):
        data = {}
    data = {k: v for k, v in data.items() if str(k).casefold() not in ("proto", *(("cert",) if cert else ()))}
    data = {"proto": proto, **data}
    if cert is not None:
        data["cert"] = {"crt": cert[0], "key": cert[1]}
    return yaml.safe_dump(data, sort_keys=False, indent=4)


class Tls:
    def __init__(self, root: DeviceRoot, config_path: Path | None) -> None:
        self.root = root
        # The server.yaml the app was started with; unknown: the device's own (NanoKVM's fixed path).
        self.config_path = config_path or root(SERVER_YAML)

    def set(self, enabled: bool) -> None:
        cert = None
        try:
            if enabled:
                cert = self._certificate()
            path = self.config_path
            text = path.read_text(encoding="utf-8") if path.exists() else ""
            mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
            atomic_write(path, edit_server_yaml(text, "https" if enabled else "http", cert).encode(), mode)
        except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError) as err:
            raise Failed(f"failed to {'enable' if enabled else 'disable'} TLS: {err}", code=-2) from None

    def device_certificate(self) -> tuple[str, str]:
        """The device's certificate and key paths, made now if missing (the VNC server's TLS)."""
        try:
            return self._certificate()
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise Failed(f"no device certificate: {err}", code=-2) from None

    def _certificate(self) -> tuple[str, str]:
        crt, key = self.root(CERT), self.root(KEY)
        if not (crt.is_file() and key.is_file() and crt.stat().st_size and key.stat().st_size):
            certificate, private = make_certificate(read_text(self.root("/etc/hostname")).split("\n")[0])
            atomic_write(key, private, 0o600)
            atomic_write(crt, certificate, 0o644)
        return str(crt), str(key)
