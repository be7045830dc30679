"""Make untrusted text safe to show on a terminal.

File names, track names and CSV headers come from users and from files theta did not write. A
name may hold ANSI escape sequences (``\\x1b[2J`` clears the screen) or other control
characters; printed raw, they would act on the user's terminal instead of being shown. Every
line theta prints goes through :func:`scrub`, which shows such characters as Python escapes
(``\\x1b``), the way ``repr`` would. Rich markup (``[bold]``) is a separate concern: the
consoles in ``core.logs`` never parse markup in strings (see ``SafeConsole``).

No Rich import here: ``core.errors`` uses this on its way to stderr.
"""

from __future__ import annotations

import re

# C0 controls except tab and newline, DEL, C1 controls; and the Unicode bidi overrides, which
# can make a name read differently from what it is ("Trojan Source").
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def scrub(text: str) -> str:
    """``text`` with every terminal control character shown as an escape (``\\x1b``)."""
    return _UNSAFE.sub(_escape, text)
