"""The ``pretrained`` switch the networks share."""

from __future__ import annotations

__all__ = ["check_pretrained"]


def check_pretrained(pretrained: object) -> bool:
    """Return ``pretrained`` when it is a bool; refuse anything else (``--pretrained false`` on the command
    line arrives as a non-empty, truthy string)."""
    if not isinstance(pretrained, bool):
        raise TypeError(
            f"pretrained must be True or False, got {pretrained!r} (on the command line: --pretrained True)"
        )
    return pretrained
