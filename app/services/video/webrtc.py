"""H.264 over WebRTC (spec 6.2) with aiortc, without decoding or re-encoding.

Signalling runs over a WebSocket (``app.api.h264``); this module holds the peer connection. The
video track hands aiortc the pipeline's access units as ``av.Packet``s, which aiortc packetizes as
they are (its "pre-encoded" path), so one encode serves every viewer. A picture-loss report from
the browser asks the pipeline for a key frame (rate-limited); a viewer whose queue overflows drops
frames until the next key frame.

Like NanoKVM's server: H.264 only, RTP payloads of at most 1200 bytes, and every packet carries the
playout-delay header extension (min = max = 0: "show each frame at once") under the ID the offer
negotiated. aiortc gathers its own candidates before answering, so they travel inside the answer's
SDP; the browser's trickled candidates are added as they come.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from fractions import Fraction
from typing import Any

import msgspec

from app.board.video.h264 import AccessUnit
from app.services.video.h264 import H264Pipeline
from app.services.video.stats import H264_ENCODER, ViewerStats

log = logging.getLogger(__name__)

PLAYOUT_DELAY_URI = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"
PLAYOUT_DELAY_ID = 5  # pion's default; the offer's ID is used when it has one
RTP_PAYLOAD_MAX = 1200
QUEUE_FRAMES = 8  # a viewer further behind than this drops to the next key frame
# aiortc answers only once its candidates are gathered, and aioice waits up to 5 s for a STUN (or TURN)
# server. A KVM often sits on a LAN without the internet, where the configured STUN server never
# answers: the answer waits this long at most; a reachable server answers within it (one round trip).
GATHER_SECONDS = 1.0
VIDEO_CLOCK = 90_000

Send = Callable[[str, str], Awaitable[None]]


class IceServer(msgspec.Struct, omit_defaults=True):
    urls: list[str]
    username: str = ""
    credential: str = ""


def ice_servers(stun: str, turn_addr: str, turn_user: str, turn_cred: str) -> list[IceServer]:
    """From server.yaml, as NanoKVM: ``stun`` unless empty or ``disable``; TURN only when all three are set."""
    servers = []
    if stun and stun != "disable":
        servers.append(IceServer([f"stun:{stun}"]))
    if turn_addr and turn_user and turn_cred:
        servers.append(IceServer([f"turn:{turn_addr}"], turn_user, turn_cred))
    return servers


def h264_only(codecs: list[Any]) -> list[Any]:
    """The offer's H.264 codecs that take fragmented NAL units (packetization-mode 1), constrained
    baseline first, each followed by its retransmission (rtx) codec."""
    h264 = [
        c for c in codecs if c.mimeType.lower() == "video/h264" and str(c.parameters.get("packetization-mode")) == "1"
    ]
    h264.sort(key=lambda c: not str(c.parameters.get("profile-level-id", "")).lower().startswith("42e0"))
    kept: list[Any] = []
    for codec in h264:
        kept.append(codec)
        kept.extend(
            c
            for c in codecs
            if c.mimeType.lower() == "video/rtx" and str(c.parameters.get("apt")) == str(codec.payloadType)
        )
    return kept


_aiortc_ready = False


def load_aiortc() -> None:
    """Import aiortc and PyAV and prepare aiortc (once per process). Blocking, for a worker thread: the
    imports take ~1 s on a PC and far longer on a small board, and on the event loop they would stall
    every stream meanwhile (direct viewers hit their write deadline, WebRTC peers their ICE consent)."""
    import aiortc.mediastreams
    import aiortc.rtp
    import aiortc.sdp  # noqa: F401
    import av  # noqa: F401

    _prepare_aiortc()


def _prepare_aiortc() -> None:
    """Teach aiortc the playout-delay extension and NanoKVM's payload size (once per process)."""
    global _aiortc_ready
    if _aiortc_ready:
        return
    from aiortc import codecs
    from aiortc.codecs import h264
    from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters

    video = codecs.HEADER_EXTENSIONS["video"]
    if all(ext.uri != PLAYOUT_DELAY_URI for ext in video):
        video.append(RTCRtpHeaderExtensionParameters(id=PLAYOUT_DELAY_ID, uri=PLAYOUT_DELAY_URI))
    h264.PACKET_MAX = RTP_PAYLOAD_MAX  # read by the packetizer at each call
    _aiortc_ready = True


def _playout_delay_map(negotiated_id: int) -> Any:
    """aiortc's header-extension writer, plus playout-delay (min = max = 0) in every packet."""
    from aiortc import rtp

    class WithPlayoutDelay(rtp.HeaderExtensionsMap):
        def set(self, values: Any) -> tuple[int, bytes]:
            extensions = [*rtp.unpack_header_extensions(*super().set(values)), (negotiated_id, bytes(3))]
            profile, value = rtp.pack_header_extensions(extensions)
            return int(profile), bytes(value)

    return WithPlayoutDelay()


def _bound_gathering(transceiver: Any, seconds: float) -> None:
    """Let this connection's STUN/TURN queries take ``seconds`` at most (aioice's own limit is 5 s and
    has no setting; its per-call default is replaced on this connection only)."""
    connection = transceiver.sender.transport.transport.iceGatherer._connection
    gather = connection.get_component_candidates
    connection.get_component_candidates = functools.partial(gather, timeout=seconds)


class PipelineTrack:
    """A MediaStreamTrack (built lazily: aiortc is imported only when WebRTC is used)."""

    @staticmethod
    def create(pipeline: H264Pipeline, username: str, address: str) -> Any:
        import av
        from aiortc import MediaStreamTrack
        from aiortc.mediastreams import MediaStreamError

        class Track(MediaStreamTrack):
            kind = "video"

            def __init__(self) -> None:
                super().__init__()
                self._units: deque[AccessUnit] = deque()
                self._wake = asyncio.Event()
                self._viewer: int | None = None
                self._waiting_for_key = True
                self._started = False
                self.sender: Any = None  # set by the session once negotiated: its RTCP figures
                self.stats: ViewerStats | None = None
                self._rtt: float | None = None
                # The unit last handed to aiortc and when: aiortc packetizes and sends it before it
                # asks for the next, so the time until then is this viewer's send.
                self._handed: tuple[int, float] | None = None

            def _skip(self, count: int) -> None:
                if self.stats is not None and self._started:  # before its first key frame: not a loss
                    self.stats.units_skipped(count)

            def _deliver(self, unit: AccessUnit) -> None:
                if self._waiting_for_key and not unit.key:
                    self._skip(1)
                    return
                if len(self._units) >= QUEUE_FRAMES and not unit.key:
                    self._skip(len(self._units) + 1)
                    self._units.clear()
                    self._waiting_for_key = True
                    pipeline.request_key_frame(recovery=True)
                    return
                if unit.key:
                    self._skip(len(self._units))
                    self._units.clear()
                self._waiting_for_key = False
                self._started = True
                self._units.append(unit)
                self._wake.set()

            async def _refresh(self) -> None:
                """The round trip and loss aiortc computed from the peer's last receiver report."""
                if self.sender is None or self.stats is None:
                    return
                for item in (await self.sender.getStats()).values():
                    if getattr(item, "type", "") == "remote-inbound-rtp":
                        self._rtt = item.roundTripTime
                        self.stats.loss = min(1.0, max(0, item.fractionLost) / 256)
                        self.stats.lost_packets = item.packetsLost

            async def recv(self) -> Any:
                # The first call comes once ICE and DTLS are up: only then is this a viewer.
                if self._viewer is None:
                    self.stats = pipeline.capture.stats.add_viewer(
                        "webrtc",
                        username,
                        address,
                        lambda: self._rtt,
                        by_seq=False,
                        encoder=H264_ENCODER,
                        refresh=self._refresh,
                    )
                    self._viewer = pipeline.add_viewer("webrtc", self._deliver)
                if self._handed is not None and self.stats is not None:
                    size, handed_at = self._handed
                    self.stats.unit_sent(size, time.perf_counter() - handed_at)
                    self._handed = None
                while not self._units:
                    if self.readyState != "live":
                        raise MediaStreamError
                    self._wake.clear()
                    await self._wake.wait()
                unit = self._units.popleft()
                self._handed = (len(unit.data), time.perf_counter())
                packet = av.Packet(unit.data)
                packet.pts = unit.timestamp * VIDEO_CLOCK // 1_000_000
                packet.time_base = Fraction(1, VIDEO_CLOCK)
                return packet

            def stop(self) -> None:
                super().stop()
                if self._viewer is not None:
                    pipeline.remove_viewer(self._viewer)
                    self._viewer = None
                if self.stats is not None:
                    pipeline.capture.stats.remove_viewer(self.stats)
                self._wake.set()

        return Track()


class WebRtcSession:
    """One signalling connection: its peer connection and track."""

    def __init__(
        self, pipeline: H264Pipeline, servers: list[IceServer], send: Send, username: str = "", address: str = ""
    ) -> None:
        from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection

        _prepare_aiortc()
        self.pipeline = pipeline
        self.servers = servers
        self._send = send
        config = RTCConfiguration([RTCIceServer(s.urls, s.username or None, s.credential or None) for s in servers])
        self.pc = RTCPeerConnection(config)
        self.track = PipelineTrack.create(pipeline, username, address)

    async def start(self) -> None:
        """The first message, before anything else (the page creates its peer connection on it)."""
        await self._send("ice-servers", msgspec.json.encode(self.servers).decode())

    async def handle(self, event: str, data: str) -> None:
        if event == "video-offer":
            await self._offer(data)
        elif event == "video-candidate":
            await self._candidate(data)
        elif event == "heartbeat":
            await self._send("heartbeat", "")

    async def _offer(self, data: str) -> None:
        from aiortc import RTCSessionDescription

        if self.pc.signalingState != "stable":
            log.warning("WebRTC offer refused: signalling state is %s", self.pc.signalingState)
            return
        offer = msgspec.json.decode(data, type=dict[str, str])
        await self.pc.setRemoteDescription(RTCSessionDescription(offer.get("sdp", ""), offer.get("type", "offer")))
        sender = self.pc.addTrack(self.track)
        self.track.sender = sender
        transceiver = next(t for t in self.pc.getTransceivers() if t.sender is sender)
        # H.264 only: the codecs were matched against the offer when it was set, so filter that list.
        transceiver._codecs = h264_only(transceiver._codecs)
        if not transceiver._codecs:
            raise ValueError("the offer has no H.264 with packetization-mode 1")
        sender._send_keyframe = lambda: self.pipeline.request_key_frame(recovery=True)  # type: ignore[method-assign]  # picture loss
        _bound_gathering(transceiver, GATHER_SECONDS)
        answer = await self.pc.createAnswer()
        await self.pc.setLocalDescription(answer)
        self._write_playout_delay(sender)
        local = self.pc.localDescription
        await self._send("video-answer", msgspec.json.encode({"type": local.type, "sdp": local.sdp}).decode())

    def _write_playout_delay(self, sender: Any) -> None:
        """Every RTP packet carries playout-delay 0/0 under the negotiated ID (aiortc has no API for
        extensions it does not know; its per-sender map is replaced before the first packet)."""
        negotiated = PLAYOUT_DELAY_ID
        for transceiver in self.pc.getTransceivers():
            for ext in getattr(transceiver, "_headerExtensions", []):
                if ext.uri == PLAYOUT_DELAY_URI:
                    negotiated = ext.id
        # aiortc configures the map (mid, abs-send-time) when the sender starts, after this.
        sender._RTCRtpSender__rtp_header_extensions_map = _playout_delay_map(negotiated)

    async def _candidate(self, data: str) -> None:
        from aiortc.sdp import candidate_from_sdp

        init = msgspec.json.decode(data, type=dict[str, Any])
        line = str(init.get("candidate") or "")
        if not line:
            return  # end of candidates
        candidate = candidate_from_sdp(line.removeprefix("candidate:"))
        candidate.sdpMid = init.get("sdpMid")
        candidate.sdpMLineIndex = init.get("sdpMLineIndex")
        await self.pc.addIceCandidate(candidate)

    async def close(self) -> None:
        self.track.stop()
        await self.pc.close()
