"""Platform constraints as data: load the rules file, find a row's rules, check a text against them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from scenario_pack.core.errors import ConfigError

HASHTAG = re.compile(r"(?<![\w&])#[A-Za-z]\w*")
RULE_KEYS = {
    "max_chars",
    "min_words",
    "max_words",
    "min_hashtags",
    "max_hashtags",
    "subject_line",
    "max_subject_chars",
    "title",
    "min_headings",
    "max_new_tokens",
}
Rules = dict[str, dict[str, dict[str, Any]]]
SHIPPED = Path(__file__).parent / "platform_rules.yaml"


def load(path: Path) -> Rules:
    """Read and check a rules file: {type: {platform or 'default': {rule: value}}}."""
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"{path}: cannot read the platform rules ({exc}). Fix the file or pass --rules."
        ) from exc
    if not isinstance(spec, dict) or not spec:
        raise ConfigError(
            f"{path}: expected a mapping of content type to platforms; see platform_rules.yaml."
        )
    for kind, platforms in spec.items():
        if not isinstance(platforms, dict):
            raise ConfigError(f"{path}: '{kind}' must map platform names (or 'default') to rules.")
        for platform, rules in platforms.items():
            unknown = set(rules or {}) - RULE_KEYS
            if unknown:
                raise ConfigError(
                    f"{path}: {kind}.{platform} has unknown rule(s) {', '.join(sorted(unknown))}; "
                    f"known: {', '.join(sorted(RULE_KEYS))}."
                )
    return spec


def rules_path(setting: str | None) -> Path:
    """The `--rules` file when given, else the shipped one."""
    return Path(setting) if setting else SHIPPED


def for_row(rules: Rules, kind: str, platform: str | None) -> dict[str, Any] | None:
    platforms = rules.get(kind)
    if platforms is None:
        return None
    return platforms.get(platform or "default", platforms.get("default"))


def of_row(rules: Rules, row: dict[str, Any]) -> dict[str, Any]:
    """The rules a row's text must keep: its type's and platform's (none when the file has no entry)."""
    return for_row(rules, row["type"], row.get("platform")) or {}


def words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9'’-]+", text)


def check(text: str, rules: dict[str, Any]) -> list[str]:
    """Every rule the text breaks, in words (empty: it passes)."""
    failed = []
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    first = lines[0] if lines else ""
    n_words, n_tags = len(words(text)), len(HASHTAG.findall(text))
    if "max_chars" in rules and len(text.strip()) > rules["max_chars"]:
        failed.append(f"{len(text.strip())} characters > {rules['max_chars']}")
    if "min_words" in rules and n_words < rules["min_words"]:
        failed.append(f"{n_words} words < {rules['min_words']}")
    if "max_words" in rules and n_words > rules["max_words"]:
        failed.append(f"{n_words} words > {rules['max_words']}")
    if "min_hashtags" in rules and n_tags < rules["min_hashtags"]:
        failed.append(f"{n_tags} hashtags < {rules['min_hashtags']}")
    if "max_hashtags" in rules and n_tags > rules["max_hashtags"]:
        failed.append(f"{n_tags} hashtags > {rules['max_hashtags']}")
    if rules.get("subject_line"):
        if not re.match(r"subject:\s*\S", first, re.IGNORECASE):
            failed.append("no 'Subject:' first line")
        elif (
            "max_subject_chars" in rules and len(first.split(":", 1)[1].strip()) > rules["max_subject_chars"]
        ):
            failed.append(f"subject longer than {rules['max_subject_chars']} characters")
    if rules.get("title") and not re.match(r"#\s+\S", first):
        failed.append("no '# Title' first line")
    headings = sum(1 for line in lines if line.startswith("## "))
    if "min_headings" in rules and headings < rules["min_headings"]:
        failed.append(f"{headings} '## ' headings < {rules['min_headings']}")
    return failed


def rule_broken(failure: str) -> str:
    """A failure from `check` without the text's count ("412 words > 400" -> "words > 400"), for tallies."""
    return failure.split(" ", 1)[1] if failure[0].isdigit() else failure


def describe(rules: dict[str, Any]) -> str:
    """The rules in words, for the prompt: the model is told what it will be checked against."""
    parts = []
    if rules.get("title"):
        parts.append("start with a '# ' title line")
    if "min_headings" in rules:
        parts.append(f"at least {rules['min_headings']} '## ' section headings")
    if rules.get("subject_line"):
        limit = rules.get("max_subject_chars")
        parts.append("start with a 'Subject: ' line" + (f" of at most {limit} characters" if limit else ""))
    if "min_words" in rules or "max_words" in rules:
        parts.append(f"{rules.get('min_words', 1)} to {rules.get('max_words', 'any number of')} words")
    if "max_chars" in rules:
        parts.append(f"at most {rules['max_chars']} characters")
    lo, hi = rules.get("min_hashtags", 0), rules.get("max_hashtags")
    if hi == 0:
        parts.append("no hashtags")
    elif hi is not None:
        parts.append(f"{lo} to {hi} hashtags")
    return "; ".join(parts)
