"""Screen recordings: vncrecordingserver's options, files under ``/data/recordings``."""
