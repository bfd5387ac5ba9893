"""Application version, update channel and server settings, and installing updates (spec 4.8, 9).

Upstream checks only a SHA-512 fetched from the same server as the bundle (integrity, not
authenticity). Here a bundle is installed only when its detached signature (``<name>.sig``) verifies
against a trusted Ed25519 key (``signing``); the manifest's SHA-512, when present, is checked too.
No connection is made unless an update server is configured (``update.url`` in server.yaml, or one
set by an admin through ``/api/application/update-server``).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import IO

import msgspec

from app import validators
from app.errors import Busy, Failed, InvalidArgument
from app.paths import DeviceRoot, atomic_write, read_text
from app.services.update import bundle, signing

log = logging.getLogger(__name__)

VERSION_FILE = "/kvmapp/version"
DEFAULT_VERSION = "1.0.0"
PREVIEW_FLAG = "/etc/kvm/preview_updates"
SERVER_FILE = "/etc/kvm/application-update.json"
# What NanoKVM answers when no server is set; shown only (its page reads any other URL as a custom
# server and disables preview updates): nothing is fetched from it unless update.url names it.
UPSTREAM_URL = "https://cdn.sipeed.com/nanokvm"
APP_DIR = "/kvmapp"
OLD_DIR = "/root/old"
WORKSPACE = "/root/.kvmcache"
TRANSFER_LOCK = "/run/nanokvm-transfer-in-progress"
MANIFEST_MAX = 64 << 10
URL_MAX = 2048
TIMEOUT = 15.0
DOWNLOAD_TIMEOUT = 60.0  # per read, not for the whole download
CHUNK = 1 << 20
RESTART_DELAY = 1.0


class Version(msgspec.Struct):
    current: str
    latest: str


class Enabled(msgspec.Struct):
    enabled: bool


class UpdateServer(msgspec.Struct):
    enabled: bool
    url: str


class Manifest(msgspec.Struct):
    version: str
    name: str
    sha512: str = ""


def valid_server_url(url: str) -> str:
    """An update server's base URL (``app.validators.update_server_url``); InvalidArgument (a ValueError)."""
    return validators.update_server_url(url, code=-2)


def _open(url: str, timeout: float) -> IO[bytes]:
    """GET over http(s) only (no file:, ftp: or proxies); basic-auth credentials in the URL become an
    Authorization header that is not sent on to a redirect's target."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError("not an http(s) URL")
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    request = urllib.request.Request(urllib.parse.urlunsplit(parts._replace(netloc=netloc)))  # noqa: S310 - http(s) only
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_unredirected_header("Authorization", f"Basic {token}")
    opener = urllib.request.OpenerDirector()
    for handler in (
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        urllib.request.HTTPRedirectHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    answer: IO[bytes] = opener.open(request, timeout=timeout)
    return answer


class UpdateService:
    def __init__(self, root: DeviceRoot, default_url: str, keys: Traversable, restart: Callable[[], None]) -> None:
        self.root = root
        try:
            self.default_url = valid_server_url(default_url) if default_url else ""
        except ValueError as err:
            log.error("update.url in server.yaml is not usable (%s): no default update server", err)
            self.default_url = ""
        self.keys_dir = keys
        self.restart = restart  # called shortly after an install
        self._busy = threading.Lock()
        with contextlib.suppress(OSError):  # nothing is in progress at start (spec 4.6)
            self.root(TRANSFER_LOCK).unlink(missing_ok=True)

    # --- versions and settings -------------------------------------------------------------

    def current(self) -> str:
        return read_text(self.root(VERSION_FILE)) or DEFAULT_VERSION

    def preview(self) -> Enabled:
        return Enabled(self.root(PREVIEW_FLAG).exists())

    def set_preview(self, enable: bool) -> None:
        path = self.root(PREVIEW_FLAG)
        if enable:
            try:
                atomic_write(path, b"1")
            except OSError:
                raise Failed("failed to enable preview updates", code=-2) from None
            return
        try:
            path.unlink(missing_ok=True)
        except OSError:
            raise Failed("failed to disable preview updates", code=-3) from None

    def server(self) -> UpdateServer:
        try:
            saved = msgspec.json.decode(self.root(SERVER_FILE).read_bytes(), type=UpdateServer)
            return UpdateServer(saved.enabled, valid_server_url(saved.url) if saved.url else self._shown_default())
        except (OSError, msgspec.DecodeError, msgspec.ValidationError, ValueError):
            return UpdateServer(False, self._shown_default())

    def _shown_default(self) -> str:
        return self.default_url or UPSTREAM_URL

    def set_server(self, enabled: bool, url: str) -> UpdateServer:
        clean = valid_server_url(url) if url.strip() else ""  # InvalidArgument -2 with the reason
        if enabled and not clean:
            raise InvalidArgument("an enabled update server needs a URL", code=-2)
        settings = UpdateServer(enabled, clean)
        try:
            atomic_write(self.root(SERVER_FILE), msgspec.json.encode(settings), 0o600)  # may hold credentials
        except OSError:
            raise Failed("failed to save the update server", code=-3) from None
        return UpdateServer(enabled, clean or self._shown_default())

    def base_url(self) -> str:
        """Where latest.json and the bundles are: the admin's server, else server.yaml's (its /preview
        channel when preview updates are on); "" when there is none."""
        custom = self.server()
        if custom.enabled and custom.url:
            return custom.url
        if not self.default_url:
            return ""
        return f"{self.default_url}/preview" if self.preview().enabled else self.default_url

    def manifest(self) -> tuple[str, Manifest]:
        base = self.base_url()
        if not base:
            raise ValueError("no update server is configured")
        with _open(f"{base}/latest.json?now={int(time.time())}", TIMEOUT) as answer:
            data = answer.read(MANIFEST_MAX + 1)
        if len(data) > MANIFEST_MAX:
            raise ValueError("latest.json is larger than 64 KiB")
        manifest = msgspec.json.decode(data, type=Manifest)
        if bundle.version_of(manifest.name) != manifest.version:
            raise ValueError("latest.json names a bundle of another version")
        return base, manifest

    def version(self) -> Version:
        try:
            _, manifest = self.manifest()
        except (OSError, ValueError, msgspec.DecodeError, msgspec.ValidationError, bundle.BundleError) as err:
            log.info("latest version unknown: %s", err)
            raise Failed("failed to query latest version") from None
        return Version(self.current(), manifest.version)

    # --- installing ------------------------------------------------------------------------

    def workspace(self) -> Path:
        path = self.root(WORKSPACE)
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return Path(tempfile.mkdtemp(prefix="nanokvm-update-", dir=path))

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        if not self._busy.acquire(blocking=False):
            raise Busy("update already in progress")
        try:
            yield None
        finally:
            self._busy.release()

    def install(self, package: Path, name: str, signature: bytes | None) -> None:
        """Verify the signature, then unpack and swap. Raises Failed (-1) ``update failed: <why>``."""
        try:
            version = bundle.version_of(name)
            signing.verify_file(package, signature, signing.load_keys(self.keys_dir))
            bundle.install(package, version, self.root(APP_DIR), self.root(OLD_DIR))
        except (signing.SignatureError, bundle.BundleError) as err:
            raise Failed(f"update failed: {err}") from None
        except OSError as err:
            log.exception("update failed")
            raise Failed(f"update failed: {err.strerror or err}") from None
        log.warning("application updated to %s; restarting", version)
        threading.Timer(RESTART_DELAY, self.restart).start()

    def update(self) -> None:
        """Online: latest.json, the bundle and its signature from the update server, then install."""
        with self.exclusive():
            work = self.workspace()
            try:
                try:
                    base, manifest = self.manifest()
                    package = work / manifest.name
                    self._download(f"{base}/{manifest.name}", package, bundle.PACKED_MAX, manifest.sha512)
                    signature = self._fetch_signature(f"{base}/{manifest.name}.sig")
                except (OSError, ValueError, msgspec.DecodeError, msgspec.ValidationError, bundle.BundleError) as err:
                    raise Failed(f"update failed: {err}") from None
                self.install(package, manifest.name, signature)
            finally:
                shutil.rmtree(work, ignore_errors=True)

    @staticmethod
    def _download(url: str, target: Path, limit: int, sha512: str) -> None:
        hasher = hashlib.sha512()
        size = 0
        with _open(url, DOWNLOAD_TIMEOUT) as answer, target.open("wb") as out:
            while chunk := answer.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise ValueError("the bundle is larger than 1 GiB")
                hasher.update(chunk)
                out.write(chunk)
        if sha512:
            try:
                expected = base64.b64decode(sha512, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("latest.json's sha512 is not base64") from None
            if expected != hasher.digest():
                raise ValueError("the bundle does not match latest.json's sha512")

    @staticmethod
    def _fetch_signature(url: str) -> bytes | None:
        try:
            with _open(url, TIMEOUT) as answer:
                return answer.read(signing.SIGNATURE_MAX + 1)
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None  # refused below as "not signed"
            raise

    @contextlib.contextmanager
    def transfer(self) -> Iterator[None]:
        """Offline updates and image transfers share one lock file (spec 4.6)."""
        lock = self.root(TRANSFER_LOCK)
        lock.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise Busy("another transfer is in progress") from None
        os.close(fd)
        try:
            yield None
        finally:
            lock.unlink(missing_ok=True)
