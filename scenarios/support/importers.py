"""`scenario prepare support --from zendesk|csv`: help-desk exports into support rows.

A ticket becomes a row only when it has a customer message, a public agent reply and an intent;
private comments (internal notes) are never read for either message, so they cannot reach training.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from scenario_pack.core.errors import ConfigError, data_error
from scenario_pack.core.import_sources import (
    UnreadableHtml,
    html_to_text,
    map_columns,
    read_csv,
    read_json,
    records,
)
from scenario_pack.core.importing import Importer, ImportOption, ImportResult, Skip

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
            row_or_reason = _ticket_row(ticket, thread or [], intent_of, cleaner)
        except UnreadableHtml as exc:
            row_or_reason = str(exc)
        if isinstance(row_or_reason, str):
            result.skipped.append(Skip(row_or_reason, where))
        else:
            result.rows.append(row_or_reason)
    result.notes.append(
        "ticket: the requester's first public comment (else the ticket description); reply: the first "
        "public comment by anyone else after it; quoted mail, signatures and footers removed from both; "
        "private comments are never read."
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


def _ticket_row(
    ticket: dict[str, Any], thread: Any, intent_of: IntentReader, cleaner: MailCleaner
) -> dict[str, Any] | str:
    """The ticket's row, or the reason it cannot be one."""
    requester = ticket.get("requester_id")
    if requester is None:
        return "no requester_id"
    if not isinstance(thread, list):
        return "comments are not a list"
    public = [c for c in _in_order(thread) if isinstance(c, dict) and c.get("public") is True]
    asked_at = next((i for i, c in enumerate(public) if c.get("author_id") == requester), None)
    question = _body(public[asked_at]) if asked_at is not None else str(ticket.get("description") or "")
    later = public[asked_at + 1 :] if asked_at is not None else public
    answer = next((c for c in later if c.get("author_id") != requester), None)
    if not question.strip():
        return MISSING["ticket"]
    if answer is None:
        return "no public agent reply"
    intent, why_not = intent_of(ticket)
    intent = _label(str(intent)) if intent else ""
    if not intent:
        return why_not
    row = {"id": str(ticket["id"])} if ticket.get("id") is not None else {}
    row.update(ticket=cleaner.clean(question), intent=intent, response=cleaner.clean(_body(answer)))
    emptied = next((EMPTIED[name] for name in ("ticket", "response") if not row[name]), None)
    if emptied:
        return emptied
    if ticket.get("subject"):
        row["subject"] = str(ticket["subject"]).strip()
    via = ticket.get("via")
    if isinstance(via, dict) and via.get("channel"):
        row["channel"] = str(via["channel"])
    return row


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
    result = ImportResult(rows=[])
    for line, cells in table.rows:
        row = {name: cells[column] for name, column in columns.items() if cells[column]}
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
        ),
    ),
    Importer(
        "csv",
        "a help-desk CSV export, one ticket per row",
        read_support_csv,
        (ImportOption("map", MAP_HELP, multiple=True), LANGUAGES),
    ),
)
