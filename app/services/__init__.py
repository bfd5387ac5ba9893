"""The behaviour behind the API, one package or module per subsystem."""
