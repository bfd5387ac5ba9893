"""``/api/export/prometheus/metrics``: kvmd's figures in Prometheus' text format, written by prometheus-client."""

from __future__ import annotations

import asyncio

from litestar import Controller, Response
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from app.api.pikvm import state
from app.api.routing import Req, get, services
from app.runtime import Services
from app.services.auth.accounts import Role


def _gauge(registry: CollectorRegistry, name: str, doc: str, value: float, **labels: str) -> None:
    gauge = Gauge(name, doc, list(labels), registry=registry)
    (gauge.labels(**labels) if labels else gauge).set(value)


def render(svc: Services) -> bytes:
    registry = CollectorRegistry(auto_describe=True)
    atx = state.atx(svc)
    _gauge(registry, "pikvm_atx_enabled", "ATX is enabled", 1)
    _gauge(registry, "pikvm_atx_busy", "An ATX button press is in progress", atx["busy"])
    power = Gauge("pikvm_atx_led", "ATX LED lit", ["led"], registry=registry)
    for led, lit in atx["leds"].items():
        power.labels(led=led).set(lit)
    hid = state.hid(svc)
    _gauge(registry, "pikvm_hid_online", "HID is online", hid["online"])
    _gauge(registry, "pikvm_hid_connected", "HID is connected to the host", hid["connected"])
    _gauge(registry, "pikvm_hid_busy", "HID is typing text", hid["busy"])
    leds = Gauge("pikvm_hid_keyboard_led", "Keyboard LED lit", ["led"], registry=registry)
    for led, lit in hid["keyboard"]["leds"].items():
        leds.labels(led=led).set(lit)
    msd = state.msd(svc)
    _gauge(registry, "pikvm_msd_enabled", "MSD is enabled", msd["enabled"])
    _gauge(registry, "pikvm_msd_online", "MSD is online", msd["online"])
    _gauge(registry, "pikvm_msd_busy", "An MSD transfer is running", msd["busy"])
    _gauge(registry, "pikvm_msd_drive_connected", "The drive is connected to the host", msd["drive"]["connected"])
    _gauge(registry, "pikvm_msd_storage_size_bytes", "Image storage size", msd["storage"]["size"])
    _gauge(registry, "pikvm_msd_storage_free_bytes", "Image storage free space", msd["storage"]["free"])
    _gauge(registry, "pikvm_msd_images", "Images in the storage", len(msd["storage"]["images"]))
    streamer = state.streamer(svc)
    running = streamer["streamer"]
    online = bool(running and running["source"]["online"])
    _gauge(registry, "pikvm_streamer_online", "The video source has a signal", online)
    _gauge(registry, "pikvm_streamer_clients", "Video viewers", svc.capture.viewers)
    _gauge(registry, "pikvm_streamer_desired_fps", "Frame rate asked of the source", streamer["params"]["desired_fps"])
    _gauge(registry, "pikvm_streamer_quality", "JPEG quality", streamer["params"]["quality"])
    gpio = state.gpio(svc)
    inputs = Gauge("pikvm_gpio_input_state", "GPIO input state", ["name"], registry=registry)
    for name, channel in gpio["inputs"].items():
        inputs.labels(name=name).set(channel["state"])
    outputs = Gauge("pikvm_gpio_output_state", "GPIO output state", ["name"], registry=registry)
    for name, channel in gpio["outputs"].items():
        outputs.labels(name=name).set(channel["state"])
    return generate_latest(registry)


class KvmdMetricsController(Controller):
    path = "/api/export"

    @get("/prometheus/metrics", role=Role.VIEWER)
    async def metrics(self, request: Req) -> Response[bytes]:
        body = await asyncio.to_thread(render, services(request))
        return Response(body, media_type=CONTENT_TYPE_LATEST)
