"""`scenario prepare support --from zendesk|csv`: help-desk exports into support rows.

A ticket gives a row for each public agent reply once it has a customer message and an intent; the
thread's earlier turns travel with the row as its history. Private comments (internal notes) are
never read unless asked for, so they cannot reach training by accident.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from scenario_pack.core.data.csv_table import read_csv
from scenario_pack.core.data.import_sources import (
    UnreadableHtml,
    html_to_text,
    map_columns,
    read_json,
    records,
)
from scenario_pack.core.data.importing import Importer, ImportOption, ImportResult, Skip
from scenario_pack.core.errors import ConfigError, data_error

from .mail_cleaning import MailCleaner

FIELDS = ("ticket", "intent", "response", "id", "subject", "product", "channel", "customer_segment")
REQUIRED = ("ticket", "intent", "response")
MISSING = {"ticket": "no customer message", "response": "no agent reply", "intent": "no intent"}
EMPTIED = {"ticket": "customer message empty after cleaning", "response": "agent reply empty after cleaning"}
IntentReader = Callable[[dict[str, Any]], tuple[str | None, str]]  # ticket -> (intent, why there is none)


def _label(text: str) -> str:
    """The scenario's own label form (parse() compares the model's answer in it)."""
    from . import normalise_label  # imported here: the package imports this module for importers=

    return normalise_label(text)


# -- Zendesk ---------------------------------------------------------------------------------------


def read_zendesk(source: Path, options: dict[str, Any]) -> ImportResult:
    intent_of = _intent_reader(options.get("intent_from"))
    cleaner = MailCleaner.from_option(options.get("languages"))
    tickets = records(read_json(source), "tickets")
    comments_path = Path(options["comments"]) if options.get("comments") else None
    comments = _read_comments(comments_path) if comments_path else {}
    result = ImportResult(rows=[])
    for where, ticket in tickets:
        where = f"{where} (ticket {ticket.get('id', '?')})"
        thread = comments.get(str(ticket.get("id"))) if comments_path else ticket.get("comments")
        try:
            rows_or_reason = _thread_rows(ticket, thread or [], intent_of, cleaner, options)
        except UnreadableHtml as exc:
            rows_or_reason = str(exc)
        if isinstance(rows_or_reason, str):
            result.skipped.append(Skip(rows_or_reason, where))
        else:
            result.rows.extend(rows_or_reason)
    read = "public and private comments" if options.get("include_private") else "public comments"
    replies = "the first reply" if options.get("first_reply_only") else "each reply"
    result.notes.append(
        f"threads from {read}, from the requester's first (else the ticket description); a row for "
        f"{replies} by anyone else: ticket = the requester's messages just before it, history = the turns "
        "before those (consecutive messages of one side joined), thread = the ticket id; quoted mail, "
        "signatures and footers removed from every message"
        + ("." if options.get("include_private") else "; private comments are never read.")
    )
    result.notes.append(cleaner.note())
    return result


def _intent_reader(spec: str | None) -> IntentReader:
    """`--intent-from tag:PREFIX`, `field:ID` or `type`."""
    kind, _, arg = (spec or "").partition(":")
    if kind == "tag" and arg:

        def from_tag(ticket: dict[str, Any]) -> tuple[str | None, str]:
            found = {t[len(arg) :] for t in ticket.get("tags") or [] if str(t).startswith(arg) and t != arg}
            if len(found) > 1:
                return None, f"several tags start with '{arg}'"
            return (found.pop() if found else None), f"no intent (no tag starting with '{arg}')"

        return from_tag
    if kind == "field" and arg:

        def from_field(ticket: dict[str, Any]) -> tuple[str | None, str]:
            for entry in ticket.get("custom_fields") or []:
                if isinstance(entry, dict) and str(entry.get("id")) == arg:
                    value = entry.get("value")
                    usable = isinstance(value, str | int) and str(value).strip()
                    return (str(value) if usable else None), f"no intent (custom field {arg} is empty)"
            return None, f"no intent (no custom field {arg})"

        return from_field
    if kind == "type" and not arg:
        return lambda ticket: (ticket.get("type"), "no intent (type is empty)")
    raise ConfigError(
        f"--intent-from {spec!r}: say where a ticket's intent is: tag:PREFIX (e.g. tag:intent_), "
        "field:ID (a custom field's id) or type."
        if spec
        else "--from zendesk needs --intent-from tag:PREFIX, field:ID or type (where a ticket's intent is)."
    )


def _thread_rows(
    ticket: dict[str, Any],
    thread: Any,
    intent_of: IntentReader,
    cleaner: MailCleaner,
    options: dict[str, Any],
) -> list[dict[str, Any]] | str:
    """One row per agent turn, with the turns before it as history; or the reason there is none."""
    requester = ticket.get("requester_id")
    if requester is None:
        return "no requester_id"
    if not isinstance(thread, list):
        return "comments are not a list"
    readable = [
        c
        for c in _in_order(thread)
        if isinstance(c, dict) and (c.get("public") is True or options.get("include_private"))
    ]
    asked_at = next((i for i, c in enumerate(readable) if c.get("author_id") == requester), None)
    if asked_at is None:  # the requester wrote no comment: the description is their message
        said = [("customer", str(ticket.get("description") or ""))] + [("agent", _body(c)) for c in readable]
    else:
        said = [
            ("customer" if c.get("author_id") == requester else "agent", _body(c))
            for c in readable[asked_at:]
        ]
    if not said[0][1].strip():
        return MISSING["ticket"]
    if all(role == "customer" for role, _ in said):
        return "no public agent reply"
    intent, why_not = intent_of(ticket)
    intent = _label(str(intent)) if intent else ""
    if not intent:
        return why_not
    turns = _turns([(role, cleaner.clean(text)) for role, text in said])
    if not turns:
        return EMPTIED["ticket"]
    if len(turns) == 1:
        return EMPTIED["response"]
    replies = range(1, len(turns), 2)  # turns alternate, the customer's first
    rows = []
    for n, i in enumerate(replies[:1] if options.get("first_reply_only") else replies, start=1):
        row: dict[str, Any] = {}
        if ticket.get("id") is not None:
            row.update(id=str(ticket["id"]) + (f"-{n}" if n > 1 else ""), thread=str(ticket["id"]))
        row.update(ticket=turns[i - 1][1], intent=intent, response=turns[i][1])
        if i > 1:
            row["history"] = [{"role": role, "text": text} for role, text in turns[: i - 1]]
        if ticket.get("subject"):
            row["subject"] = str(ticket["subject"]).strip()
        via = ticket.get("via")
        if isinstance(via, dict) and via.get("channel"):
            row["channel"] = str(via["channel"])
        rows.append(row)
    return rows


def _turns(said: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Messages as alternating turns, the customer's first: empty ones dropped (nothing left after
    cleaning), consecutive ones of one side joined (a follow-up before the answer belongs to it)."""
    turns: list[tuple[str, str]] = []
    for role, text in said:
        if not text:
            continue
        if turns and turns[-1][0] == role:
            turns[-1] = (role, f"{turns[-1][1]}\n\n{text}")
        elif turns or role == "customer":
            turns.append((role, text))
    return turns


def _body(comment: dict[str, Any]) -> str:
    for key in ("plain_body", "body"):
        if comment.get(key):
            return str(comment[key])
    return html_to_text(str(comment.get("html_body") or ""))


def _in_order(thread: list[Any]) -> list[Any]:
    """Oldest first by created_at when every comment has a readable one; else as exported."""
    try:
        stamps = [datetime.fromisoformat(str(c["created_at"]).replace("Z", "+00:00")) for c in thread]
    except (TypeError, KeyError, ValueError):
        return thread
    return [c for _, _, c in sorted(zip(stamps, range(len(thread)), thread, strict=True))]


def _read_comments(path: Path) -> dict[str, list[Any]]:
    """Comments by ticket id from {id: [comments]}, or from comment objects (or groups) with `ticket_id`."""
    source = read_json(path)
    doc = source.document
    if source.is_document and isinstance(doc, dict) and "comments" not in doc and "ticket_id" not in doc:
        return {str(k): v.get("comments", []) if isinstance(v, dict) else v for k, v in doc.items()}
    by_ticket: dict[str, list[Any]] = defaultdict(list)
    for where, item in records(source, "comments"):
        if item.get("ticket_id") is None:
            raise data_error(
                path,
                None,
                "ticket_id",
                f"{where}: a comment without ticket_id",
                "Give every comment its ticket's id, or key the file by ticket id.",
            )
        by_ticket[str(item["ticket_id"])].extend(item.get("comments", [item]))
    return by_ticket


# -- CSV -------------------------------------------------------------------------------------------


def read_support_csv(source: Path, options: dict[str, Any]) -> ImportResult:
    table = read_csv(source)
    columns = map_columns(table, options.get("map") or (), FIELDS, REQUIRED, aliases={"reply": "response"})
    cleaner = MailCleaner.from_option(options.get("languages"))
    result = ImportResult(rows=[], notes=[table.read_as] if table.read_as else [])
    for line, cells in table.rows:
        row = {name: cells[column].strip() for name, column in columns.items() if cells[column].strip()}
        reason = next((MISSING[name] for name in REQUIRED if name not in row), None)
        if reason is None:
            try:
                row.update(ticket=cleaner.clean(row["ticket"]), response=cleaner.clean(row["response"]))
            except UnreadableHtml as exc:
                reason = str(exc)
        if reason is None:
            row["intent"] = _label(row["intent"])
            reason = next((EMPTIED[name] for name in ("ticket", "response") if not row[name]), None)
            reason = reason or (None if row["intent"] else MISSING["intent"])
        if reason:
            result.skipped.append(Skip(reason, f"{source.name} line {line}"))
        else:
            result.rows.append(row)
    result.notes.append(
        "columns: "
        + ", ".join(f"{name} <- {column!r}" for name, column in columns.items())
        + "; quoted mail, signatures and footers removed from ticket and response; intents lower-cased "
        "with underscores."
    )
    result.notes.append(cleaner.note())
    return result


MAP_HELP = "field=Column: the CSV column holding a row field (repeatable; default: same-named columns)"
LANGUAGES = ImportOption(
    "languages",
    "comma-separated languages whose quoted-reply headers are cut, e.g. de,fr (English always; "
    "default: every language whose headers a message contains)",
)
importers = (
    Importer(
        "zendesk",
        'Zendesk tickets (JSON, {"tickets": [...]} or NDJSON) with their comments',
        read_zendesk,
        (
            ImportOption("intent-from", "where the intent is: tag:PREFIX, field:ID (custom field) or type"),
            ImportOption(
                "comments", "comments in their own JSON/NDJSON file (by ticket id or with ticket_id)"
            ),
            LANGUAGES,
            ImportOption("first-reply-only", "one row per ticket: its first agent reply alone", switch=True),
            ImportOption(
                "include-private", "read internal notes as turns too (default: never read)", switch=True
            ),
        ),
    ),
    Importer(
        "csv",
        "a help-desk CSV export, one ticket per row",
        read_support_csv,
        (ImportOption("map", MAP_HELP, multiple=True), LANGUAGES),
    ),
)
