"""Validation in one place: the wire rules NanoKVM's clients rely on, and our own validators.

NanoKVM's Go server binds request bodies with gin: JSON keys match struct fields
case-insensitively, unknown keys are ignored, a wrong JSON type is an error, and form-encoded
bodies are accepted too. The same case-insensitive matching serves ``server.yaml`` (viper's keys
are case-insensitive). Everything decodes into msgspec Structs, so the types are checked once here;
the rules for values (names, addresses, passwords) are ``app.validators``'.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

import msgspec

T = TypeVar("T", bound=msgspec.Struct)


class InvalidInput(ValueError):
    """Input that does not fit its schema; the message says which field and why, in one line."""


def _struct_type(annotation: Any) -> type[msgspec.Struct] | None:
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return annotation
    for arg in get_args(annotation) if get_origin(annotation) is not None else ():
        found = _struct_type(arg)
        if found is not None:
            return found
    return None


def fold_keys(value: Any, struct: type[msgspec.Struct], *, strict_keys: bool = False, path: str = "") -> Any:
    """Rename the keys of ``value`` to ``struct``'s wire names, matching case-insensitively.

    Unknown keys are dropped (gin's behaviour) unless ``strict_keys`` (the config file), where they
    are an error. Nested Structs are folded too.
    """
    if not isinstance(value, dict):
        return value
    info = msgspec.structs.fields(struct)
    by_folded = {f.encode_name.casefold(): f for f in info}
    hints = get_type_hints(struct, include_extras=True)
    out: dict[str, Any] = {}
    for key, item in value.items():
        field = by_folded.get(str(key).casefold())
        if field is None:
            if strict_keys:
                raise InvalidInput(f"{path}{key}: unknown key")
            continue
        nested = _struct_type(hints[field.name])
        if nested is not None:
            item = fold_keys(item, nested, strict_keys=strict_keys, path=f"{path}{field.encode_name}.")
        out[field.encode_name] = item
    return out


def _one_line(err: msgspec.ValidationError) -> str:
    text = str(err)
    # msgspec says "Expected `int`, got `str` - at `$.port.http`"; put the key first.
    match = re.fullmatch(r"(?s)(.*) - at `\$\.?(.*)`", text)
    if match:
        what, where = match.groups()
        where = re.sub(r"\[(\d+)\]", r".\1", where)
        return f"{where}: {what[0].lower()}{what[1:]}".replace("`", "")
    return text.replace("`", "")


def convert(value: Any, struct: type[T], *, strict: bool = True, strict_keys: bool = False) -> T:
    """Fold keys and convert to ``struct``; raise InvalidInput with a one-line reason."""
    if not isinstance(value, dict):
        raise InvalidInput("expected an object")
    folded = fold_keys(value, struct, strict_keys=strict_keys)
    try:
        return msgspec.convert(folded, struct, strict=strict)
    except msgspec.ValidationError as err:
        raise InvalidInput(_one_line(err)) from None
