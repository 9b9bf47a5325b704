"""How much a trial may write into the study's log, in one place.

Every user attribute, parameter name and failed trial's traceback becomes an event that each
replay reads and each TrialScheduler keeps in memory. A limit turns a mistake (a whole data set
stored as an attribute, a name built from a repr) into a clear error at the call, instead of a
log that is slow to reopen. A traceback is the user's error and must still be recorded: it is
cut in the middle instead of refused.
"""

from __future__ import annotations

__all__ = [
    "MAX_PARAM_NAME_CHARS",
    "MAX_TRACEBACK_CHARS",
    "MAX_USER_ATTR_KEY_CHARS",
    "MAX_USER_ATTR_VALUE_BYTES",
    "truncate_middle",
]

MAX_USER_ATTR_KEY_CHARS = 256
# Of the value's JSON encoding, in UTF-8.
MAX_USER_ATTR_VALUE_BYTES = 64 * 1024
MAX_PARAM_NAME_CHARS = 256
MAX_TRACEBACK_CHARS = 32 * 1024


def truncate_middle(text: str, limit: int) -> str:
    """`text` if it fits in `limit` characters, else its head and tail around a marker.

    The head says where the failure started (the objective's frame), the tail what was raised;
    the tail gets the larger share since the exception's message is at the end.
    """
    if len(text) <= limit:
        return text
    # Sized for the longest count first, so that the real marker is never longer.
    longest = len(_marker(len(text)))
    if limit < longest:
        return text[:limit]  # no room for a marker
    room = limit - longest
    head = room // 4
    tail = room - head
    cut = len(text) - head - tail
    return text[:head] + _marker(cut) + (text[len(text) - tail :] if tail else "")


def _marker(cut: int) -> str:
    return f"\n[... {cut} characters cut ...]\n"
