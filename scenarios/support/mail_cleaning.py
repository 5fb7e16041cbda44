"""Help-desk messages reduced to what the person wrote this time: no quoted mail, signature or footer.

Training on quoted earlier mail teaches the model to echo the thread; signatures and legal footers
teach it boilerplate. Earlier mail ("On ... wrote:", "Am ... schrieb", Outlook's From/Sent block,
"-----Original Message-----") is cut with mail-parser-reply, whose headers cover several mail clients
and languages. Each message is searched for every language's headers first and cut with the languages
found, so a German customer's "Am ... schrieb" is cut in an otherwise English help desk. Its own
signature rule cuts at any line starting "Thanks," - which would drop most of "Thanks, that's longer
than usual: ..." from an agent's reply - so sign-offs are found here, and only where they close the
message.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from scenario_pack.core.data.import_sources import html_to_text, looks_like_html
from scenario_pack.core.errors import ConfigError

# Reply headers mail-parser-reply 1.36 misses: its Spanish one wants two spaces before "escribió", its
# Dutch one no name after "schreef" (Gmail puts it there), and it has no Portuguese.
MISSED_HEADERS = {
    "es": r"El\s.+\sescribió:",
    "nl": r"Op\s.+\s(?:schreef\s.+|heeft\s.+\shet volgende geschreven):",
    "pt": r"Em\s.+\sescreveu:|De:\s.+\n(?:> ?)*(?:Enviad[oa]|Data|Para):\s.+",
}

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


@functools.cache
def header_patterns() -> dict[str, re.Pattern[str]]:
    """Each language's reply headers: mail-parser-reply's and the ones it misses, by language code."""
    from mailparser_reply.constants import MAIL_LANGUAGES

    sources: dict[str, list[str]] = {code: [spec] for code, spec in MISSED_HEADERS.items()}
    for code, spec in MAIL_LANGUAGES.items():
        if len(code) == 2:  # 'david' names a mail product, not a language
            keys = ("wrote_header", "from_header")
            sources.setdefault(code, []).extend(spec[key] for key in keys if spec.get(key))
    return {
        code: re.compile("|".join(f"^(?:> ?)*(?:{p})$" for p in found), re.MULTILINE | re.IGNORECASE)
        for code, found in sorted(sources.items())
    }


@dataclass
class MailCleaner:
    """Cleans messages, cutting quoted mail at the reply headers of `languages` (default: every one
    known); `found` counts, per language, the messages whose headers were in it."""

    languages: Sequence[str] = ()  # empty: every language known
    found: Counter[str] = field(default_factory=Counter)

    @classmethod
    def from_option(cls, spec: str | None) -> MailCleaner:
        """`--languages de,fr`: only these languages' headers (and English's) cut; none given: all."""
        known = header_patterns()
        if not spec:
            return cls(tuple(known))
        codes = tuple(dict.fromkeys(code.strip().lower() for code in spec.split(",") if code.strip()))
        unknown = [code for code in codes if code not in known]
        if unknown or not codes:
            raise ConfigError(
                f"--languages {spec!r}: no reply headers known for {', '.join(unknown) or 'an empty list'}. "
                f"Give comma-separated codes from: {', '.join(known)}."
            )
        return cls(tuple(dict.fromkeys(("en", *codes))))

    def clean(self, text: str) -> str:
        """The new part of one message as plain text ("" when nothing is left)."""
        from mailparser_reply.constants import MAIL_LANGUAGES
        from mailparser_reply.parser import EmailMessage

        if looks_like_html(text):
            text = html_to_text(text)
        text = "\n".join(line.strip() for line in text.replace("\r\n", "\n").split("\n"))
        patterns = header_patterns()
        languages = tuple(self.languages or patterns)
        found = (
            [code for code in languages if patterns[code].search(text)]
            if _any_header(languages).search(text)
            else []
        )
        self.found.update(found)
        cuts = [m.start() for code in found if code in MISSED_HEADERS if (m := _missed(code).search(text))]
        text = text[: min(cuts, default=len(text))]
        languages = [code for code in found if code in MAIL_LANGUAGES]
        message = EmailMessage(text=text, languages=languages, keep_hyphen_lists=True).read()
        return _without_signature(message.replies[0].full_body if message.replies else "")

    def note(self) -> str:
        counts = ", ".join(f"{code} {n}" for code, n in sorted(self.found.items())) or "none"
        return (
            f"quoted mail cut at reply headers in {', '.join(self.languages)} (--languages to choose); "
            f"messages with such headers, by language: {counts}."
        )


@functools.cache
def _any_header(languages: tuple[str, ...]) -> re.Pattern[str]:
    """One scan for any of these languages' headers: most messages quote nothing, so the scan per
    language that names the ones found runs only for the few that do."""
    joined = "|".join(f"(?:{header_patterns()[code].pattern})" for code in languages)
    return re.compile(joined, re.MULTILINE | re.IGNORECASE)


@functools.cache
def _missed(code: str) -> re.Pattern[str]:
    return re.compile(f"^(?:> ?)*(?:{MISSED_HEADERS[code]})$", re.MULTILINE | re.IGNORECASE)


def _without_signature(latest: str) -> str:
    """The message before its signature, footer or closing sign-off."""
    lines = [line.strip() for line in latest.splitlines() if not line.lstrip().startswith(">")]
    lines = lines[: _first(lines, lambda i, line: bool(SIGNATURE.match(line) or FOOTER.match(line)))]
    filled = [i for i, line in enumerate(lines) if line]

    def closes(i: int, line: str) -> bool:
        return bool(SIGN_OFF.match(line)) and sum(j > i for j in filled) <= SIGN_OFF_TAIL

    lines = lines[: _first(lines, closes)]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _first(lines: list[str], test: Callable[[int, str], bool]) -> int:
    return next((i for i, line in enumerate(lines) if test(i, line)), len(lines))
