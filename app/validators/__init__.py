"""The rules for what a request may say, in one place (kvmd's ``validators`` is the model).

Each validator takes the raw value, returns it in canonical form, and raises ``InvalidArgument``
(``app.errors``) with a one-line reason. ``code`` is NanoKVM's answer code where the calling
handler refuses bad input with another code than -1 (see ``app.errors``). The table tests are in
``tests/unit/test_validators.py``. Request bodies' types and shapes are ``app.validation``'s.
"""

from __future__ import annotations

from app.validators.account import new_password, role_name, username
from app.validators.net import dns_server, hostname, http_url, mac, update_server_url, wol_address
from app.validators.text import one_line_name, web_title
from app.validators.wifi import wifi_credentials, wifi_password, wifi_ssid

__all__ = [
    "dns_server",
    "hostname",
    "http_url",
    "mac",
    "new_password",
    "one_line_name",
    "role_name",
    "update_server_url",
    "username",
    "web_title",
    "wifi_credentials",
    "wifi_password",
    "wifi_ssid",
    "wol_address",
]
