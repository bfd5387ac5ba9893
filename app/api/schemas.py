"""Shared field types for request and response Structs."""

from __future__ import annotations

from typing import Annotated

import msgspec

# gin's `binding:"required"` on a string: present and non-empty.
Required = Annotated[str, msgspec.Meta(min_length=1)]
