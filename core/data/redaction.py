"""Private-data redaction: identifiers in people's free text become typed placeholders before training.

Emails (also written out: "jane dot doe at example dot com"), phone numbers in national and
international formats (Google's libphonenumber, through `phonenumbers`, over the regions in
PHONE_REGIONS), card numbers (Luhn), IBANs (mod 97, any case), SSNs, IP addresses, credentials
(API and private keys) and secret tokens in URLs. Business identifiers stay: a number right after
"invoice", "order", "tracking", "SKU", "EAN", "version" and the like is never a phone or a card,
and dates, prices and durations ("3-5 business days") do not look like any of these. Originals are
never stored or reported, only counts by type.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
_AT = r"\s*(?:\[at\]|\(at\)|\{at\}|<at>|\bat\b)\s*"
_DOT = r"\s*(?:\[dot\]|\(dot\)|\{dot\}|<dot>|\bdot\b|\.)\s*"
_WORD = r"[A-Za-z0-9_%+-]+"
SPELLED_EMAIL = re.compile(
    rf"(?i)(?<![\w.+-]){_WORD}(?:{_DOT}{_WORD})*{_AT}{_WORD}(?:{_DOT}{_WORD})*{_DOT}(?:com|org|net|edu|gov|io|co|"
    r"[a-z]{2})\b"
)
CARD = re.compile(r"(?<![\w-])\d(?:[ -]{0,2}\d){12,18}(?![\w-])")
IBAN = re.compile(r"(?i)(?<![\w])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![\w])")
SSN = re.compile(r"(?<![\w-])(\d{3})([- ])(\d{2})\2(\d{4})(?![\w-])")
IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]|\.\d)")
IPV6 = re.compile(r"(?i)(?<![\w:])[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?![\w:])")
URL_SECRET = re.compile(
    r"(?i)([?&#;](?:token|access_token|reset_token|key|api_key|apikey|code|sig|signature|session|"
    r"password|pwd|secret|auth)=)[^&#\s]{6,}"
)
PRIVATE_KEY_BLOCK = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)"
)
PHONE_CANDIDATE = re.compile(r"(?<![\w.])(?:\+|00)?\(?\d[\d ().-]{6,20}\d(?![\w])")
DATE = re.compile(r"\b(?:19|20)\d\d[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])\b")
PHONE_REGIONS = ("US", "GB", "FR", "DE", "IN", "ES", "IT", "CA", "AU", "NL")
BUSINESS = re.compile(
    r"(?i)\b(?:invoice|inv|order|ord|ref|reference|tracking|shipment|parcel|sku|ean|upc|gtin|isbn|asin|"
    r"version|ver|v|build|release|item|ticket|case|po|part|serial|sn|model|article|batch|lot|receipt|"
    r"zip|postcode|postal code)"
    r"\s*(?:no\.?|number|num|id|#|:)?\s*[#:]?\s*$"
)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char)
        if i % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _business(match: re.Match[str]) -> bool:
    """True when the words just before the match name a business identifier ("Invoice 2024-000123")."""
    return bool(BUSINESS.search(match.string[max(0, match.start() - 24) : match.start()]))


def _card(match: re.Match[str]) -> bool:
    digits = re.sub(r"\D", "", match.group(0))
    return 13 <= len(digits) <= 19 and luhn_ok(digits) and len(set(digits)) > 1 and not _business(match)


def _iban(match: re.Match[str]) -> bool:
    code = match.group(0).replace(" ", "").upper()
    moved = code[4:] + code[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return 15 <= len(code) <= 34 and int(number) % 97 == 1


def _ssn(match: re.Match[str]) -> bool:
    area, _, group, serial = match.groups()
    valid = area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"
    return valid and not _business(match)


def _ip(match: re.Match[str]) -> bool:
    try:
        address = ipaddress.ip_address(match.group(0))
    except ValueError:
        return False
    return not _business(match) and (address.version == 6 or not match.group(0).startswith("0"))


def _phone(match: re.Match[str]) -> bool:
    """A valid number for some region in PHONE_REGIONS (libphonenumber), not a business identifier."""
    import phonenumbers

    text = match.group(0)
    digits = re.sub(r"\D", "", text)
    international = text.startswith(("+", "00"))
    if not (8 if international else 10) <= len(digits) <= 15 or _business(match) or DATE.search(text):
        return False
    for region in PHONE_REGIONS:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return True
    return False


# (type, pattern, check) in the order applied: credentials and URLs first, so their digits are never
# half a phone; cards before phones; SSNs before phones.
DETECTORS: list[tuple[str, re.Pattern[str], Callable[[re.Match[str]], bool]]] = [
    ("email", EMAIL, lambda m: True),
    ("email", SPELLED_EMAIL, lambda m: True),
    ("token", URL_SECRET, lambda m: True),
    ("iban", IBAN, _iban),
    ("card", CARD, _card),
    ("ssn", SSN, _ssn),
    ("ip", IPV4, _ip),
    ("ip", IPV6, _ip),
    ("phone", PHONE_CANDIDATE, _phone),
]


def redact(text: str, counts: Counter[str] | None = None) -> str:
    """Replace every detected identifier with `[TYPE]`; add what was replaced to `counts`."""
    text = PRIVATE_KEY_BLOCK.sub(lambda m: _count(counts, "secret", "[SECRET]"), text)
    for kind, pattern in SECRETS:
        if kind == "api key":  # (a password assignment is code, not what people write in a ticket)
            text = pattern.sub(lambda m: _count(counts, "secret", "[SECRET]"), text)
    for kind, pattern, check in DETECTORS:

        def replace(
            match: re.Match[str], kind: str = kind, check: Callable[[re.Match[str]], bool] = check
        ) -> str:
            if not check(match):
                return match.group(0)
            if kind == "token":  # keep the parameter's name: "?token=[TOKEN]"
                return match.group(1) + _count(counts, kind, "[TOKEN]")
            return _count(counts, kind, f"[{kind.upper()}]")

        text = pattern.sub(replace, text)
    return text


def _count(counts: Counter[str] | None, kind: str, placeholder: str) -> str:
    if counts is not None:
        counts[kind] += 1
    return placeholder


def redact_rows(rows: list[dict], fields: tuple[str, ...]) -> Counter[str]:
    """Redact the given free-text fields of every row in place, and the text inside those that hold
    lists or objects (e.g. a thread's earlier turns); return counts by type."""
    counts: Counter[str] = Counter()

    def redacted(value: Any) -> Any:
        if isinstance(value, str):
            return redact(value, counts)
        if isinstance(value, list):
            return [redacted(item) for item in value]
        if isinstance(value, dict):
            return {key: redacted(item) for key, item in value.items()}
        return value

    for row in rows:
        for field in fields:
            if field in row:
                row[field] = redacted(row[field])
    return counts


# Credentials in code or text: refused rather than redacted where code is concerned (a placeholder
# in a module would change what the code does).
SECRETS: list[tuple[str, re.Pattern[str]]] = [
    ("private key", PRIVATE_KEY_BLOCK),
    ("api key", re.compile(r"(?<![\w-])sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}")),
    ("api key", re.compile(r"(?<!\w)(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})")),
    ("api key", re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Z0-9])")),
    ("api key", re.compile(r"(?<!\w)xox[abposr]-[A-Za-z0-9-]{10,}")),
    ("api key", re.compile(r"(?<!\w)AIza[0-9A-Za-z_-]{35}")),
    ("api key", re.compile(r"(?<!\w)(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,}")),
    (
        "password",
        re.compile(
            r"""(?im)^\s*["']?[\w.]*(?:password|passwd|secret|api_?key|token|access_key)[\w]*["']?\s*[:=]\s*"""
            r"""[rbf]?["'][^"'\s]{8,}["']"""
        ),
    ),
]


def find_secrets(text: str) -> list[str]:
    """The kinds of credential found in text (private keys, API keys, passwords assigned in code)."""
    return sorted({kind for kind, pattern in SECRETS if pattern.search(text)})
