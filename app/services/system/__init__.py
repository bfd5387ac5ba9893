"""Device and system management: names, services, the board's own settings."""
