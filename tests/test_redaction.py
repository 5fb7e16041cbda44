from collections import Counter
from pathlib import Path

import pytest

from scenario_pack.core.data.redaction import find_secrets, luhn_ok, redact, redact_rows


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Reach me at jane.doe+orders@example.co.uk please", "Reach me at [EMAIL] please"),
        ("my cell is (415) 555-0132", "my cell is [PHONE]"),
        ("call +44 20 7946 0958 after 6", "call [PHONE] after 6"),
        ("or 415.555.0132", "or [PHONE]"),
        ("card 4111 1111 1111 1111 was charged twice", "card [CARD] was charged twice"),
        ("Amex 3782-822463-10005", "Amex [CARD]"),
        ("IBAN DE89 3704 0044 0532 0130 00", "IBAN [IBAN]"),
        ("SSN 123-45-6789", "SSN [SSN]"),
    ],
)
def test_identifiers_are_replaced_by_typed_placeholders(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Order #BN-48213 arrived late",
        "It cost $1,000.00 and took 3-5 business days",
        "delivered 2024-01-15 at 10:30",
        "UPS tracking 1Z999AA10123456784",
        "USPS tracking 9400111899223856933120",
        "card 4111 1111 1111 1112 (fails the Luhn check)",
        "ZIP 94107-1234",
        "model HF-13, 1500 W, 70/80/90/100 C",
        "serial SN 2023 4455 12",
        "just 555-0132 without an area code",
        "email me at the address on file @ your convenience",
    ],
)
def test_near_misses_are_kept(text: str) -> None:
    assert redact(text) == text


def test_counts_by_type_and_rows_in_place() -> None:
    rows = [
        {"ticket": "I'm bob@example.com, card 4111111111111111", "intent": "x@y.io"},
        {"ticket": "phone 212-555-0199", "intent": "z"},
    ]
    counts = redact_rows(rows, ("ticket",))
    assert counts == {"email": 1, "card": 1, "phone": 1}
    assert rows[0]["ticket"] == "I'm [EMAIL], card [CARD]" and rows[0]["intent"] == "x@y.io"


def test_luhn() -> None:
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ('SECRET_KEY = "django-insecure-0123456789abcdef"', ["password"]),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n", ["private key"]),
        ("token = os.environ['GITHUB_TOKEN']  # ghp_0123456789abcdefghijklmnopqrstuvwxyz", ["api key"]),
        ("aws_access_key_id=AKIAIOSFODNN7EXAMPLE", ["api key"]),
        ('client = Client(api_key="sk-proj-aaaaBBBBccccDDDDeeeeFFFF1234")', ["api key"]),
        ('"password": "correct horse battery"', []),  # spaces: a sentence, not a credential
        ('user = User.objects.create_user("ann", password="pass1234")', []),  # a test fixture argument
        ("def password_is_strong(password):\n    return len(password) >= 12", []),
        ("SKU-2024-000123, order 4111111111111111, version 4.2.1", []),
    ],
)
def test_credentials_in_code_are_found_and_ordinary_code_is_not(text: str, kinds: list[str]) -> None:
    assert find_secrets(text) == kinds


def _corpus(name: str) -> list[list[str]]:
    lines = (Path(__file__).parent / "corpus" / "redaction" / name).read_text(encoding="utf-8").splitlines()
    rows = [line.replace("\\n", "\n").split("\t") for line in lines if line and not line.startswith("#")]
    return [row + [""] * (4 - len(row)) if len(row) > 1 else row for row in rows]


@pytest.mark.parametrize(("kind", "value", "before", "after"), _corpus("private.tsv"))
def test_every_private_value_in_the_corpus_is_replaced(
    kind: str, value: str, before: str, after: str
) -> None:
    counts: Counter[str] = Counter()
    assert redact(before + value + after, counts) == f"{before}[{kind.upper()}]{after}"
    assert counts == {kind: 1}


@pytest.mark.parametrize(("text",), _corpus("business.tsv"))
def test_business_identifiers_and_ordinary_numbers_are_kept(text: str) -> None:
    assert redact(text) == text
