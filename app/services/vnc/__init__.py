"""The VNC server (RFB 3.8): handshake and security, messages, encodings, input."""
