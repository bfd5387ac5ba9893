"""KasmVNC's HTTP API (``/api/get_screenshot``, ``/api/*_user``, ...) and vncrecordingserver's ``/recording``."""
