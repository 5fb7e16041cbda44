"""Private-data redaction: identifiers in people's free text become typed placeholders before training.

Detection is deliberately conservative, so that order numbers, prices, dates, tracking codes and
durations ("3-5 business days") survive: a card number must pass the Luhn check, a phone number
must look like one (10+ digits in phone grouping, or an international +prefix), an IBAN must pass
its mod-97 check. Originals are never stored or reported, only counts by type.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
IBAN = re.compile(r"(?<![\w])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![\w])")
SSN = re.compile(r"(?<![\w-])\d{3}-\d{2}-\d{4}(?![\w-])")
_NOT_IN_NUMBER = r"(?<![\w#$.-])(?<!\d )"  # not the tail of a longer number, an order id or a price
_NUMBER_ENDS = r"(?![\w-])(?! \d)"
PHONE = re.compile(
    rf"{_NOT_IN_NUMBER}(?:\+\d{{1,3}}[ .-]?)?(?:\(\d{{2,4}}\)[ .-]?|\d{{2,4}}[ .-])"
    rf"\d{{3,4}}[ .-]?\d{{3,4}}{_NUMBER_ENDS}"
    rf"|{_NOT_IN_NUMBER}\+\d{{8,14}}{_NUMBER_ENDS}"
)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char)
        if i % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card(match: str) -> bool:
    digits = re.sub(r"\D", "", match)
    return 13 <= len(digits) <= 19 and luhn_ok(digits) and len(set(digits)) > 1


def _iban(match: str) -> bool:
    code = match.replace(" ", "")
    moved = code[4:] + code[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return 15 <= len(code) <= 34 and int(number) % 97 == 1


def _phone(match: str) -> bool:
    digits = re.sub(r"\D", "", match)
    return 10 <= len(digits) <= 15 or (match.startswith("+") and len(digits) >= 8)


# (type, pattern, check) in the order applied: cards before phones, so a card is never half a phone.
DETECTORS: list[tuple[str, re.Pattern[str], Callable[[str], bool]]] = [
    ("email", EMAIL, lambda m: True),
    ("card", CARD, _card),
    ("iban", IBAN, _iban),
    ("ssn", SSN, lambda m: True),
    ("phone", PHONE, _phone),
]


def redact(text: str, counts: Counter[str] | None = None) -> str:
    """Replace every detected identifier with `[TYPE]`; add what was replaced to `counts`."""
    for kind, pattern, check in DETECTORS:

        def replace(match: re.Match[str], kind: str = kind, check: Callable[[str], bool] = check) -> str:
            if not check(match.group(0)):
                return match.group(0)
            if counts is not None:
                counts[kind] += 1
            return f"[{kind.upper()}]"

        text = pattern.sub(replace, text)
    return text


def redact_rows(rows: list[dict], fields: tuple[str, ...]) -> Counter[str]:
    """Redact the given free-text fields of every row in place; return counts by type."""
    counts: Counter[str] = Counter()
    for row in rows:
        for field in fields:
            if isinstance(row.get(field), str):
                row[field] = redact(row[field], counts)
    return counts


# Credentials in code or text: refused rather than redacted where code is concerned (a placeholder
# in a module would change what the code does).
SECRETS: list[tuple[str, re.Pattern[str]]] = [
    ("private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")),
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
