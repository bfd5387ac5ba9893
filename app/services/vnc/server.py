"""The VNC server: a listening socket in the app's own event loop, its clients, its settings.

Every client is one more viewer of the capture loop (capture runs while anyone watches, whether
through MJPEG or VNC), belongs to a session (a password login makes one, the WebSocket uses the
browser's), and ends within a second of that session's revocation or expiry. Admin settings, kept
in ``/etc/kvm/vnc.json`` (0600): the host's keyboard layout for keysyms, and an optional separate
VNC password for clients that only speak classic VNC authentication.
"""

from __future__ import annotations

import asyncio
import logging
import ssl

import msgspec

from app.config import Config
from app.errors import DomainError, InvalidArgument
from app.paths import DeviceRoot, atomic_write, read_text
from app.services.auth.accounts import Role, StoreError
from app.services.auth.live import LiveConnections, SessionEnded
from app.services.auth.service import AuthService
from app.services.auth.totp import TotpError
from app.services.hid.keymap import LAYOUTS
from app.services.hid.paste import MAX_RUNES, Paster
from app.services.hid.service import HidService
from app.services.system.tls import Tls
from app.services.video.capture import Capture
from app.services.vnc import encodings
from app.services.vnc.connection import ClientState, VncConnection
from app.services.vnc.input import VncInput
from app.services.vnc.link import Link, TcpLink
from app.services.vnc.security import LOCKED, HandshakeFailed, Identity, Policy, handshake

log = logging.getLogger(__name__)

SETTINGS = "/etc/kvm/vnc.json"
VNC_PASSWORD_USER = "vnc-password"  # noqa: S105 - a name, not a secret; who a client of the shared VNC password is
PASSWORD_MAX = 8  # classic VNC authentication is DES keyed by at most 8 characters


class VncSettings(msgspec.Struct, omit_defaults=True):
    layout: str | None = None
    password: str | None = None
    enabled: bool | None = None  # None: server.yaml's vnc.enabled


class VncStatus(msgspec.Struct, rename="camel"):
    enabled: bool
    running: bool
    port: int
    layout: str
    vnc_password: bool
    tls: bool
    clients: list[dict[str, object]]


class VncService:
    def __init__(
        self,
        config: Config,
        root: DeviceRoot,
        auth: AuthService,
        capture: Capture,
        hid: HidService,
        paster: Paster,
        live: LiveConnections,
        tls: Tls,
    ) -> None:
        self.config = config.vnc
        self.bind_host = config.vnc.host or config.host or "0.0.0.0"
        self.root = root
        self.auth = auth
        self.capture = capture
        self.hid = hid
        self.paster = paster
        self.live = live
        self.tls = tls
        self._settings_path = root(SETTINGS)
        self.settings = self._load()
        self._server: asyncio.AbstractServer | None = None
        self._clients: dict[int, tuple[ClientState, asyncio.Event, VncInput | None]] = {}
        self._decoded = encodings.Decoded(capture.stats)
        self._passthrough = encodings.Passthrough(capture.stats)
        self._tls_context: ssl.SSLContext | None = None
        self._paste_queue: asyncio.Queue[str] | None = None
        self._paster_task: asyncio.Task[None] | None = None

    # --- settings --------------------------------------------------------------------------

    def _load(self) -> VncSettings:
        text = read_text(self._settings_path)
        if not text:
            return VncSettings()
        try:
            return msgspec.json.decode(text, type=VncSettings)
        except msgspec.DecodeError:
            log.warning("%s is not valid; VNC settings are the defaults", self._settings_path)
            return VncSettings()

    def _save(self) -> None:
        atomic_write(self._settings_path, msgspec.json.encode(self.settings), 0o600)

    @property
    def layout(self) -> str:
        return self.settings.layout or self.config.layout

    def set_layout(self, layout: str) -> None:
        if layout not in LAYOUTS or not layout:
            raise InvalidArgument(f"unknown layout {layout!r}")
        self.settings = msgspec.structs.replace(self.settings, layout=layout)
        self._save()
        for _, _, inputs in self._clients.values():
            if inputs is not None:
                inputs.set_layout(layout)

    def set_password(self, password: str) -> None:
        """Set (or with "" remove) the classic VNC password; its connected clients are ended."""
        if len(password) > PASSWORD_MAX or not password.isprintable():
            raise InvalidArgument(f"a VNC password is at most {PASSWORD_MAX} printable characters", code=-2)
        self.settings = msgspec.structs.replace(self.settings, password=password or None)
        self._save()
        for state, ended, _ in self._clients.values():
            if state.username == VNC_PASSWORD_USER:
                ended.set()

    @property
    def enabled(self) -> bool:
        return self.config.enabled if self.settings.enabled is None else self.settings.enabled

    async def set_enabled(self, enabled: bool) -> None:
        """Switch the listener on or off at run time (kept across restarts); off ends its clients.
        noVNC's WebSocket is the HTTP server's and stays."""
        self.settings = msgspec.structs.replace(self.settings, enabled=enabled)
        self._save()
        if enabled and self._server is None:
            await self._listen()
        elif not enabled:
            self._close_listener()

    def status(self) -> VncStatus:
        return VncStatus(
            enabled=self.enabled,
            running=self._server is not None,
            port=self.config.port,
            layout=self.layout,
            vnc_password=bool(self.settings.password),
            tls=self._tls() is not None,
            clients=[msgspec.to_builtins(state) for state, _, _ in self._clients.values()],
        )

    # --- lifetime --------------------------------------------------------------------------

    async def start(self) -> None:
        self._paste_queue = asyncio.Queue(maxsize=64)
        self._paster_task = asyncio.create_task(self._paste_loop())
        if self.enabled:
            await self._listen()

    async def _listen(self) -> None:
        try:
            self._server = await asyncio.start_server(self._accept, self.bind_host, self.config.port)
        except OSError as err:
            log.error("VNC server cannot listen on %s:%d: %s", self.bind_host, self.config.port, err)
            return
        log.info("VNC server on %s:%d", self.bind_host, self.config.port)

    def _close_listener(self) -> None:
        """Stop listening and end the clients that came through the listener."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for state, ended, _ in list(self._clients.values()):
            if state.transport == "vnc":
                ended.set()

    async def stop(self) -> None:
        self._close_listener()
        for _, ended, _ in list(self._clients.values()):
            ended.set()
        if self._paster_task is not None:
            self._paster_task.cancel()

    # --- connections -----------------------------------------------------------------------

    def _tls(self) -> ssl.SSLContext | None:
        if self._tls_context is None:
            try:
                crt, key = self.tls.device_certificate()
                context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                context.load_cert_chain(crt, key)
                self._tls_context = context
            except (OSError, ssl.SSLError, DomainError) as err:
                log.warning("VNC: no TLS (the device certificate is unusable: %s)", err)
        return self._tls_context

    def _policy(self, anonymous: Identity | None) -> Policy:
        enabled = self.auth.enabled
        admin = Identity("admin", Role.ADMIN, None)
        return Policy(
            tls=self._tls() if anonymous is None else None,
            plain=self._plain if enabled and anonymous is None else None,
            vnc_password=self.settings.password if enabled and anonymous is None else None,
            vnc_identity=Identity(VNC_PASSWORD_USER, Role.USER, None),
            anonymous=anonymous or (None if enabled else admin),
            locked=self.auth.lockout.is_locked,
            reserve=self.auth.lockout.reserve,
            succeeded=self.auth.lockout.success,
            pause=self.auth.pause,
        )

    async def _plain(self, ip: str, username: str, password: str) -> Identity | str:
        if not self.auth.lockout.reserve(ip):
            return LOCKED
        try:
            # The password, plus the account's TOTP code appended when it has one (no prompt in VNC).
            account = await self.auth.password_login(username, password)
        except (StoreError, TotpError):
            return "authentication unavailable"
        if account is None:
            await self.auth.pause()
            return "invalid username or password"
        self.auth.lockout.success(ip)
        token = self.auth.sessions.issue(account, "VNC", ip)
        session = self.auth.sessions.authenticate(token)
        if session is None:
            return "invalid username or password"
        return Identity(session.username, session.role, token, session.expires)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = TcpLink(reader, writer)
        try:
            identity = await handshake(link, self._policy(None))
            await self.serve(link, identity, "vnc")
        except HandshakeFailed as err:
            log.info("VNC client %s refused: %s", link.peer, err)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ssl.SSLError):
            pass
        finally:
            link.close()

    async def serve_websocket(self, link: Link, identity: Identity) -> None:
        """An RFB connection inside a WebSocket (noVNC): the HTTP session is the identity."""
        try:
            identity = await handshake(link, self._policy(identity))
            await self.serve(link, identity, "websocket")
        except HandshakeFailed as err:
            log.info("VNC WebSocket client %s refused: %s", link.peer, err)
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            pass

    async def serve(self, link: Link, identity: Identity, transport: str) -> None:
        ended = asyncio.Event()
        inputs = VncInput(self.hid, self.layout) if identity.role >= Role.USER else None
        state = ClientState(link.peer, identity.username, identity.role.wire, transport)
        connection = VncConnection(
            link, identity, self.capture, inputs, self._paste, self._name(), state, self._decoded, self._passthrough
        )
        self._clients[id(connection)] = (state, ended, inputs)
        try:
            async with self.live.hold(identity.username, identity.expires, lambda: self._valid(identity)):
                await connection.run(ended)
        except SessionEnded:
            log.info("VNC client %s: the session of %s ended", link.peer, identity.username)
        finally:
            del self._clients[id(connection)]

    def _valid(self, identity: Identity) -> bool:
        """Whether a password login's session still stands (an edit of the account file ends it)."""
        if identity.token is None or not self.auth.enabled:
            return True
        session = self.auth.sessions.authenticate(identity.token)
        return session is not None and session.role == identity.role

    def _name(self) -> str:
        hostname = read_text(self.root("/etc/hostname")).strip() or "nanokvm"
        return f"{hostname} (KVM)"

    # --- clipboard -------------------------------------------------------------------------

    def _paste(self, text: str) -> None:
        """A client's clipboard text is typed on the host, in order, one paste at a time."""
        if self._paste_queue is None:
            return
        try:
            self._paste_queue.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("VNC clipboard text dropped: too many waiting")

    async def _paste_loop(self) -> None:
        assert self._paste_queue is not None
        while True:
            text = await self._paste_queue.get()
            for start in range(0, len(text), MAX_RUNES):
                try:
                    while self.paster.busy:  # noqa: ASYNC110 - Paster offers no event; a page's paste goes first
                        await asyncio.sleep(0.05)
                    await self.paster.paste(text[start : start + MAX_RUNES], self.layout)
                except DomainError as err:
                    log.warning("VNC clipboard text not typed: %s", err.msg)
                    break
