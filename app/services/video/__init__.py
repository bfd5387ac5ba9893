"""The MJPEG capture pipeline: one capture loop per source, shared by every viewer."""
