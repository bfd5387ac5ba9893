"""Keyboard, mouse and touchpad: reports, the /api/ws channel, paste, keyboard layouts."""
