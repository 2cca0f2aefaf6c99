"""Campaign files as text: the encoding, and lines as an editor numbers them.

Encodings: UTF-8 with or without a byte order mark, UTF-16 LE or BE with a byte order mark
(what Excel's "Unicode Text" writes); a file with a NUL every other byte is UTF-16
without its mark. Anything else is refused as a whole, with a message
that says how to save the file again: a file in Windows-1252 would otherwise come through
as one reject per accented name, or as garbage sent to Cognito.

Lines end only at LF or CRLF. ``str.splitlines`` also splits at VT, FF, FS, GS, RS, NEL,
U+2028 and U+2029, which editors do not, so it turns one line into several and shifts every
later line number; here such a character (any C0/C1 control but tab, or a lone CR) rejects
the line it is on instead.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator

from worker.campaign.rows import Reject
from worker.errors import CampaignError

__all__ = ["HOW_TO_SAVE", "decode_input", "split_lines"]

HOW_TO_SAVE = (
    "save it as UTF-8 (Excel: Save As 'CSV UTF-8 (Comma delimited)'; Notepad: Save As with "
    "Encoding 'UTF-8'; or iconv -f WINDOWS-1252 -t UTF-8) or as UTF-16 with a byte order "
    "mark (Excel: 'Unicode Text')"
)
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_NAMES = {
    "\x00": "NUL (U+0000)",
    "\x0b": "VT (U+000B, vertical tab)",
    "\x0c": "FF (U+000C, form feed)",
    "\r": "CR (U+000D) without LF",
    "\x1c": "FS (U+001C, file separator)",
    "\x1d": "GS (U+001D, group separator)",
    "\x1e": "RS (U+001E, record separator)",
    "\x1f": "US (U+001F, unit separator)",
    "\x85": "NEL (U+0085, next line)",
    "\u2028": "LS (U+2028, line separator)",
    "\u2029": "PS (U+2029, paragraph separator)",
}


def decode_input(data: bytes, *, name: str = "the file") -> str:
    """The text of a campaign file (byte order mark removed).

    Raises:
        CampaignError: the bytes are not UTF-8, nor UTF-16 with a byte order mark; the
            message names the first offending line and says how to save the file.
    """
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise CampaignError(f"{name} is UTF-32, which is not accepted: {HOW_TO_SAVE}")
    for bom, encoding in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding)
            except UnicodeDecodeError as exc:
                line = _line_of(data[len(bom) : len(bom) + exc.start].decode(encoding))
                raise CampaignError(
                    f"{name} starts with a {encoding.upper()} byte order mark but line {line} "
                    f"is not valid {encoding.upper()} ({exc.reason}): {HOW_TO_SAVE}"
                ) from None
    body = data.removeprefix(codecs.BOM_UTF8)
    if _looks_like_utf16(body):  # valid UTF-8, but a NUL every other byte: UTF-16 text
        line = body.count(b"\n", 0, body.find(b"\x00")) + 1
        raise CampaignError(
            f"{name} holds NUL bytes every other byte (first on line {line}): it looks like "
            f"UTF-16 without a byte order mark: {HOW_TO_SAVE}"
        )
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        raise CampaignError(
            f"{name} is not UTF-8: line {line} holds the byte 0x{body[exc.start]:02x}; it "
            f"seems to be in another encoding (Windows-1252, Latin-1, ...): {HOW_TO_SAVE}"
        ) from None


UTF16_SAMPLE_BYTES = 4096
"""How much of a file :func:`_looks_like_utf16` looks at."""


def _looks_like_utf16(body: bytes) -> bool:
    """Whether ``body`` reads as UTF-16 without a byte order mark: in the first
    :data:`UTF16_SAMPLE_BYTES`, at least a third of the even or of the odd bytes are NUL
    (every ASCII character of UTF-16 text has one). A stray NUL or two does not count: it
    rejects only the line it is on (:func:`split_lines`)."""
    sample = body[:UTF16_SAMPLE_BYTES]
    if b"\x00" not in sample:
        return False
    half = max(1, len(sample) // 2)
    return max(sample[0::2].count(0), sample[1::2].count(0)) * 3 >= half


def _line_of(prefix: str) -> int:
    return prefix.count("\n") + 1


def describe(char: str) -> str:
    """A control character's usual name, e.g. ``VT (U+000B, vertical tab)``."""
    return _NAMES.get(char, f"U+{ord(char):04X}")


def split_lines(text: str) -> Iterator[tuple[int, str | Reject]]:
    """Yield ``(line, text or Reject)`` for each line; lines end only at LF or CRLF.

    A line holding another control character (tab excepted) is a :class:`Reject` naming
    it and its column. A final line ending is not followed by an empty line.
    """
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if _CONTROL.search(text.replace("\r\n", "")) is None:  # the usual file: no check a line
        yield from enumerate((line.removesuffix("\r") for line in lines), start=1)
        return
    for number, raw in enumerate(lines, start=1):
        line = raw[:-1] if raw.endswith("\r") else raw
        found = _CONTROL.search(line)
        if found is None:
            yield number, line
            continue
        yield (
            number,
            Reject(
                number,
                f"control character {describe(found.group())} at column {found.start() + 1}: "
                "lines end only at LF or CRLF and hold no other control characters",
            ),
        )
