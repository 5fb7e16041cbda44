"""Help-desk messages reduced to what the person wrote this time: no quoted mail, signature or footer.

Training on quoted earlier mail teaches the model to echo the thread; signatures and legal footers
teach it boilerplate. Earlier mail ("On ... wrote:", Outlook's From/Sent block, "-----Original
Message-----") is cut with mail-parser-reply, whose headers cover several mail clients. Its own
signature rule cuts at any line starting "Thanks," - which would drop most of "Thanks, that's longer
than usual: ..." from an agent's reply - so sign-offs are found here, and only where they close the
message.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from scenario_pack.core.import_sources import html_to_text, looks_like_html

# a closing line: the phrase alone, or followed by one or two capitalised names ("Thanks, Priya")
SIGN_OFF = re.compile(
    r"^(?i:thanks|thank you|many thanks|thanks (?:so much|again|in advance)|thanks for your (?:help|time)|"
    r"cheers|best|best regards|best wishes|kind regards|warm regards|regards|sincerely|yours sincerely|"
    r"all the best|take care)[\s,.!]*(?:[A-Z][\w.'-]*(?: [A-Z][\w.'-]*)?)?$"
)
SIGN_OFF_TAIL = 4  # non-empty lines a sign-off may be followed by (name, role, company, phone)
SIGNATURE = re.compile(
    r"^(?:--|__+|sent from my \w+.*|get outlook for \w+.*|sent from (?:yahoo )?mail for \w+.*)$", re.I
)
FOOTER = re.compile(
    r"^(?:(?:confidentiality|disclaimer|caution|privileged)(?: notice)?\s*:"
    r"|(?:this|the information in this) (?:e-?mail|message)\b.*"
    r"\b(?:confidential|intended (?:solely |only )?for)"
    r"|please (?:do not|don't) reply to this (?:e-?mail|message)|to unsubscribe\b|you are receiving this\b"
    r"|please consider the environment before printing)",
    re.I,
)


def clean_message(text: str) -> str:
    """The new part of one message as plain text ("" when nothing is left)."""
    from mailparser_reply.parser import EmailMessage

    if looks_like_html(text):
        text = html_to_text(text)
    message = EmailMessage(text=text.replace("\r\n", "\n"), languages=["en"], keep_hyphen_lists=True).read()
    latest = message.replies[0].full_body if message.replies else ""
    lines = [line.strip() for line in latest.splitlines() if not line.lstrip().startswith(">")]
    lines = lines[: _first(lines, lambda i, line: bool(SIGNATURE.match(line) or FOOTER.match(line)))]
    filled = [i for i, line in enumerate(lines) if line]

    def closes(i: int, line: str) -> bool:
        return bool(SIGN_OFF.match(line)) and sum(j > i for j in filled) <= SIGN_OFF_TAIL

    lines = lines[: _first(lines, closes)]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _first(lines: list[str], test: Callable[[int, str], bool]) -> int:
    return next((i for i, line in enumerate(lines) if test(i, line)), len(lines))
