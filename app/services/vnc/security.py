"""The RFB handshake up to the security result: version, security type, VeNCrypt with TLS, credentials.

What is offered depends on the device's settings:
- VeNCrypt (19) with X509Plain: TLS with the device certificate, then a user name and password of
  our accounts (the roles apply; the login lock-out counts failures per client address);
- classic VNC authentication (2, and X509Vnc inside VeNCrypt) only when an admin set a VNC
  password; that is DES with the password cut to 8 characters, so it is a shared secret, weak;
- None (1) only with ``authentication: disable``, or on the WebSocket, whose HTTP session has
  already said who the client is.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import ssl
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from Crypto.Cipher import DES

from app.services.auth.accounts import Role
from app.services.vnc import wire
from app.services.vnc.link import Link

HANDSHAKE_SECONDS = 30.0
CREDENTIAL_LIMIT = 1024  # bytes of a user name or password
LOCKED = "too many failed attempts, try again later"


@dataclass(frozen=True, slots=True)
class Identity:
    username: str
    role: Role
    token: str | None  # the session behind a password login, re-checked while connected
    expires: float = float("inf")


class HandshakeFailed(Exception):
    """The client is refused; the reason has been sent to it where RFB allows."""


# A login: (client address, user name, password) -> an identity, or the reason it failed.
PlainCheck = Callable[[str, str, str], Awaitable[Identity | str]]


@dataclass(frozen=True, slots=True)
class Policy:
    tls: ssl.SSLContext | None
    plain: PlainCheck | None  # None: no account logins (authentication disabled)
    vnc_password: str | None
    vnc_identity: Identity  # who a VNC-password client is
    anonymous: Identity | None  # set: security None is offered, and this is who the client is
    locked: Callable[[str], bool]
    reserve: Callable[[str], bool]  # count an attempt before checking it (lock-out); False: refuse
    succeeded: Callable[[str], None]
    pause: Callable[[], Awaitable[None]]  # after a failure


def vnc_response(password: str, challenge: bytes) -> bytes:
    """The DES answer to a VNC challenge: the password's first 8 bytes, each bit-reversed, as key."""
    key = password.encode("latin-1", errors="replace")[:8].ljust(8, b"\0")
    key = bytes(int(f"{byte:08b}"[::-1], 2) for byte in key)
    return bytes(DES.new(key, DES.MODE_ECB).encrypt(challenge))  # noqa: S304 - RFC 6143 7.2.2 prescribes it


async def _result(link: Link, reason: str | None) -> None:
    link.write([struct.pack(">I", wire.SEC_RESULT_OK) if reason is None else wire.security_failure(reason)])
    await link.drain()


async def _refuse(link: Link, reason: str) -> HandshakeFailed:
    await _result(link, reason)
    return HandshakeFailed(reason)


async def _version(link: Link) -> None:
    link.write([wire.VERSION])
    await link.drain()
    version = await link.read(12)
    if version != wire.VERSION:
        reason = b"RFB 3.8 is required"
        link.write([b"\0", struct.pack(">I", len(reason)), reason])
        await link.drain()
        raise HandshakeFailed(f"unsupported protocol version {version!r}")


def _offered(policy: Policy) -> list[int]:
    types = []
    if policy.tls is not None and (policy.plain is not None or policy.vnc_password or policy.anonymous):
        types.append(wire.SEC_VENCRYPT)
    if policy.vnc_password:
        types.append(wire.SEC_VNC)
    if policy.anonymous is not None:
        types.append(wire.SEC_NONE)
    return types


async def handshake(link: Link, policy: Policy) -> Identity:
    async with asyncio.timeout(HANDSHAKE_SECONDS):
        await _version(link)
        types = _offered(policy)
        if policy.locked(link.peer):
            reason = LOCKED
            link.write([bytes([0]), struct.pack(">I", len(reason)), reason.encode()])
            await link.drain()
            raise HandshakeFailed(reason)
        link.write([bytes([len(types), *types])])
        await link.drain()
        (chosen,) = await link.read(1)
        if chosen not in types:
            raise await _refuse(link, "security type not offered")
        if chosen == wire.SEC_NONE:
            assert policy.anonymous is not None
            await _result(link, None)
            return policy.anonymous
        if chosen == wire.SEC_VNC:
            return await _vnc_auth(link, policy)
        return await _vencrypt(link, policy)


async def _vnc_auth(link: Link, policy: Policy) -> Identity:
    challenge = secrets.token_bytes(16)
    link.write([challenge])
    await link.drain()
    answer = await link.read(16)
    password = policy.vnc_password or ""
    if not policy.reserve(link.peer):
        raise await _refuse(link, LOCKED)
    if password and hmac.compare_digest(answer, vnc_response(password, challenge)):
        policy.succeeded(link.peer)
        await _result(link, None)
        return policy.vnc_identity
    await policy.pause()
    raise await _refuse(link, "authentication failed")


def _subtypes(policy: Policy) -> list[int]:
    subtypes = []
    if policy.plain is not None:
        subtypes.append(wire.VENCRYPT_X509_PLAIN)
    if policy.vnc_password:
        subtypes.append(wire.VENCRYPT_X509_VNC)
    if policy.anonymous is not None:
        subtypes.append(wire.VENCRYPT_X509_NONE)
    return subtypes


async def _vencrypt(link: Link, policy: Policy) -> Identity:
    assert policy.tls is not None
    link.write([bytes([0, 2])])
    await link.drain()
    if await link.read(2) != bytes([0, 2]):
        link.write([bytes([1])])
        await link.drain()
        raise HandshakeFailed("VeNCrypt 0.2 is required")
    subtypes = _subtypes(policy)
    link.write([bytes([0, len(subtypes)]), *(struct.pack(">I", s) for s in subtypes)])
    await link.drain()
    (chosen,) = struct.unpack(">I", await link.read(4))
    if chosen not in subtypes:
        link.write([bytes([0])])
        await link.drain()
        raise HandshakeFailed("VeNCrypt subtype not offered")
    link.write([bytes([1])])
    await link.drain()
    await link.start_tls(policy.tls)
    if chosen == wire.VENCRYPT_X509_NONE:
        assert policy.anonymous is not None
        await _result(link, None)
        return policy.anonymous
    if chosen == wire.VENCRYPT_X509_VNC:
        return await _vnc_auth(link, policy)
    return await _plain(link, policy)


async def _plain(link: Link, policy: Policy) -> Identity:
    assert policy.plain is not None
    user_len, pass_len = struct.unpack(">II", await link.read(8))
    if user_len > CREDENTIAL_LIMIT or pass_len > CREDENTIAL_LIMIT:
        raise await _refuse(link, "user name or password too long")
    username = (await link.read(user_len)).decode("utf-8", errors="replace")
    password = (await link.read(pass_len)).decode("utf-8", errors="replace")
    found = await policy.plain(link.peer, username, password)
    if isinstance(found, str):
        raise await _refuse(link, found)
    await _result(link, None)
    return found
