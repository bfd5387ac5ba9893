"""An IP-KVM firmware application, wire-compatible with Sipeed's NanoKVM API."""

__version__ = "0.1.0"
