"""``python -m app --config FILE [--port N] [--root DIR]``: serve the API with granian on uvloop.

``python -m app gadget start|stop|restart [--config FILE] [--root DIR]`` builds, binds or removes
the USB gadget instead (the firmware's init script runs it before the server).

Granian runs embedded in this one process (one worker, no supervisor): one process owns the
hardware, and a 256 MB board does not pay for a second interpreter (about 30 MB RSS measured against
granian's process mode at the same throughput: ``bench/granian_mode.py``, README "Why granian runs embedded").
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

import msgspec

from app.config import Config, ConfigError, Port, load_config, resolve_root


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    parser.add_argument("--config", type=Path, default=Path("/etc/kvm/server.yaml"), help="server.yaml")
    parser.add_argument("--port", type=int, help="override port.http")
    parser.add_argument("--root", type=Path, help="override the device root")
    return parser.parse_args(argv)


def _logging(config: Config) -> None:
    level = {"trace": "DEBUG", "warn": "WARNING", "fatal": "CRITICAL", "panic": "CRITICAL"}.get(
        config.logger.level, config.logger.level.upper()
    )
    target = config.logger.file
    handler = logging.StreamHandler(sys.stdout) if target in ("", "stdout") else logging.FileHandler(target)
    logging.basicConfig(level=level, handlers=[handler], format="%(asctime)s %(levelname)s %(name)s: %(message)s")


async def _serve(config: Config, root: Path, config_path: Path) -> None:
    from granian.constants import Interfaces
    from granian.server.embed import Server

    from app.api.pikvm.listener import KvmdListener
    from app.banner import quiet_embedded_warning, start_lines
    from app.server import create_app

    https = config.proto == "https"
    port = config.port.https if https else config.port.http
    app = create_app(config, root, config_path=config_path)
    lines = start_lines(config, app.state.services, port, https)
    server = Server(
        app,
        address=config.host or "0.0.0.0",
        port=port,
        interface=Interfaces.ASGI,
        ssl_cert=Path(config.cert.crt) if https else None,
        ssl_key=Path(config.cert.key) if https else None,
        log_level="warning",  # type: ignore[arg-type]
    )
    kvmd = KvmdListener.create(config, app)  # PiKVM's API on a port of its own (``pikvm:``), or None
    if kvmd is not None:
        lines.insert(1, kvmd.line)
    quiet_embedded_warning()
    server.on_startup(lambda: print("\n".join(lines), flush=True))  # the socket is bound by then
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
        loop.add_signal_handler(sig, server.stop)
    if kvmd is None:
        await server.serve()
        return
    async with kvmd.alongside(app, server):
        await server.serve()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["gadget"]:
        from app.board.gadget import main as gadget_main

        return gadget_main(argv[1:])
    args = _parse_args(argv)
    try:
        config = load_config(args.config)
        if args.port is not None:
            if not 1 <= args.port <= 65535:
                raise ConfigError(f"--port: {args.port} is not a port number")
            config = msgspec.structs.replace(config, port=Port(http=args.port, https=config.port.https))
    except ConfigError as err:
        print(f"config error: {err}", file=sys.stderr)
        return 2
    root = args.root if args.root is not None else resolve_root(config, args.config)
    _logging(config)
    import uvloop

    uvloop.run(_serve(config, root, args.config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
