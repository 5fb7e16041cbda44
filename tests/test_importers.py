"""`scenario prepare`: help-desk exports, post folders and social exports into rows that validate."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from scenario_pack.core.cli import cli
from scenario_pack.core.data import dataset
from scenario_pack.core.data.import_sources import UnreadableHtml, html_to_text
from scenario_pack.scenarios.support import scenario as support_scenario
from scenario_pack.scenarios.support.importers import read_zendesk
from scenario_pack.scenarios.support.mail_cleaning import MailCleaner
from tests.conftest import ROOT
from tests.test_registry import fake_entry_points

CORPUS = ROOT / "tests" / "corpus" / "importers"
ZENDESK = CORPUS / "zendesk_tickets.json"
HELPDESK_CSV = CORPUS / "helpdesk_export.csv"
SOCIAL_CSV = CORPUS / "social_export.csv"
POSTS = CORPUS / "posts"
OFF_BRAND = ROOT / "data_templates" / "content" / "off_brand.jsonl"
CSV_MAPS = ["--map", "ticket=Body", "--map", "reply=Agent Reply", "--map", "intent=Category"]
SOCIAL_MAPS = ["--map", "text=Post", "--map", "platform=Network", "--map", "clicks=Link clicks"]
bare = dataclasses.replace(support_scenario, name="bare", importers=())  # a scenario without importers


def prepare(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["prepare", *map(str, args)])
    return result.exit_code, result.output


def rows_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def skip_lines(output: str) -> dict[str, int]:
    """Reason -> count, from the 'skipped N, by reason:' block."""
    block = output.split("by reason:\n", 1)[1].split("\nnote:", 1)[0]
    counts = {}
    for line in block.splitlines():
        count, _, reason = line.strip().partition("  ")
        if count.isdigit():
            counts[reason.strip()] = int(count)
    return counts


# -- support: Zendesk ------------------------------------------------------------------------------


def test_zendesk_export_becomes_rows_that_validate(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "rows.jsonl"
    code, output = prepare(
        "support",
        "--from",
        "zendesk",
        ZENDESK,
        "--intent-from",
        "tag:intent_",
        "--out",
        out,
        "--model",
        tiny_model,
    )
    assert code == 0, output
    assert "15 rows imported" in output and "skipped 4, by reason" in output
    assert skip_lines(output) == {
        "no public agent reply": 2,
        "no intent (no tag starting with 'intent_')": 1,
        "customer message empty after cleaning": 1,
    }
    assert "zendesk_tickets.json record 16 (ticket 5016)" in output  # examples name the record
    assert "15 rows valid for scenario 'support'" in output and "intent: order_status 5" in output
    validated = CliRunner().invoke(
        cli, ["validate", "support", "--data", str(out), "--model", str(tiny_model)]
    )
    assert validated.exit_code == 0, validated.output

    rows = {row["id"]: row for row in rows_of(out)}
    assert rows["5001"]["intent"] == "order_status" and rows["5001"]["channel"] == "email"
    assert rows["5001"]["ticket"].endswith("Is it actually on its way?")  # no sign-off, iPhone line, quote
    assert rows["5001"]["response"].endswith("takes 3-5 business days.")  # no "Best regards, Sam"
    assert rows["5002"]["ticket"].startswith("Hello,\n\nThe Aura kettle")  # HTML body, as text
    assert "Original Message" not in rows["5003"]["response"]
    assert rows["5004"]["ticket"].startswith("Good morning.")  # no requester comment: the description
    assert "confidential" not in rows["5005"]["ticket"]
    assert "<p>" not in rows["5006"]["response"] and "3-5 business days" in rows["5006"]["response"]
    assert rows["5007"]["ticket"].startswith("My tracking number")  # the first message, not "Hello?"
    assert "Priya Nair |" not in rows["5009"]["ticket"]


def test_private_comments_never_reach_the_rows(tmp_path: Path) -> None:
    export = json.loads(ZENDESK.read_text(encoding="utf-8"))
    private = [c["body"] for t in export["tickets"] for c in t["comments"] if c["public"] is False]
    assert len(private) == 3
    for intent_from in ("tag:intent_", "field:360011", "type"):
        text = json.dumps(read_zendesk(ZENDESK, {"intent_from": intent_from}).rows)
        for note in private:
            for sentence in note.split(". "):
                assert sentence.strip(".") not in text


def test_comments_in_their_own_file_give_the_same_rows(tmp_path: Path) -> None:
    embedded = read_zendesk(ZENDESK, {"intent_from": "tag:intent_"})
    split = read_zendesk(
        CORPUS / "zendesk_split_tickets.ndjson",
        {"intent_from": "tag:intent_", "comments": CORPUS / "zendesk_split_comments.json"},
    )
    assert split.rows == embedded.rows
    assert [s.reason for s in split.skipped] == [s.reason for s in embedded.skipped]
    assert split.skipped[0].where == "zendesk_split_tickets.ndjson line 16 (ticket 5016)"
    # comment objects carrying ticket_id, one per line, as a comments export gives them
    per_line = tmp_path / "comments.ndjson"
    tickets = json.loads(ZENDESK.read_text(encoding="utf-8"))["tickets"]
    per_line.write_text(
        "".join(
            json.dumps({"ticket_id": t["id"], **c}) + "\n" for t in tickets for c in reversed(t["comments"])
        )
    )
    from_lines = read_zendesk(
        CORPUS / "zendesk_split_tickets.ndjson", {"intent_from": "tag:intent_", "comments": per_line}
    )
    assert from_lines.rows == embedded.rows  # reversed on purpose: comments are put in created_at order


def test_intent_from_a_custom_field_or_the_ticket_type() -> None:
    by_tag = read_zendesk(ZENDESK, {"intent_from": "tag:intent_"})
    by_field = read_zendesk(ZENDESK, {"intent_from": "field:360011"})
    assert [r["intent"] for r in by_field.rows] == [r["intent"] for r in by_tag.rows]
    assert "no intent (custom field 360011 is empty)" in by_field.skip_counts()
    by_type = read_zendesk(ZENDESK, {"intent_from": "type"})
    assert {r["intent"] for r in by_type.rows} == {"question"} and len(by_type.rows) == 16


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ([], "--from zendesk needs --intent-from tag:PREFIX, field:ID or type"),
        (["--intent-from", "label:x"], "--intent-from 'label:x': say where a ticket's intent is"),
        (["--map", "ticket=Body"], "--map is an option of --from csv, not of --from zendesk"),
    ],
)
def test_bad_zendesk_options_are_one_clear_error(flags: list[str], message: str, tmp_path: Path) -> None:
    code, output = prepare("support", "--from", "zendesk", ZENDESK, "--out", tmp_path / "o.jsonl", *flags)
    assert code == 2 and message in output and "Traceback" not in output
    assert not (tmp_path / "o.jsonl").exists()


def test_bad_json_line_is_named(tmp_path: Path) -> None:
    lines = (CORPUS / "zendesk_split_tickets.ndjson").read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2][:-5]  # cut the end off the third ticket
    broken = tmp_path / "tickets.ndjson"
    broken.write_text("\n".join(lines) + "\n")
    code, output = prepare(
        "support", "--from", "zendesk", broken, "--intent-from", "type", "--out", tmp_path / "o.jsonl"
    )
    assert code == 2 and f"{broken}:3: invalid JSON" in output
    pretty = tmp_path / "pretty.json"
    pretty.write_text(
        ZENDESK.read_text(encoding="utf-8").replace('"subject": "refund?",', '"subject": "refund?"')
    )
    code, output = prepare(
        "support", "--from", "zendesk", pretty, "--intent-from", "type", "--out", tmp_path / "o.jsonl"
    )
    assert code == 2 and f"{pretty}:" in output and "invalid JSON (Expecting ',' delimiter" in output


def test_missing_source_and_unknown_kind(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    code, output = prepare(
        "support", "--from", "zendesk", missing, "--intent-from", "type", "--out", tmp_path / "o.jsonl"
    )
    assert code == 2 and f"{missing}: not found. Check the path." in output
    code, output = prepare("support", "--from", "freshdesk", ZENDESK, "--out", tmp_path / "o.jsonl")
    assert code == 2 and "'freshdesk' is not one of 'csv', 'zendesk'" in output


def test_nothing_imported_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "rows.jsonl"
    code, output = prepare(
        "support", "--from", "zendesk", ZENDESK, "--intent-from", "tag:topic_", "--out", out
    )
    assert code == 2 and not out.exists()
    assert "17  no intent (no tag starting with 'topic_')" in output and "2  no public agent reply" in output
    assert "no row could be imported with --from zendesk: all 19 records were skipped" in output
    assert f"Nothing was written to {out}" in output


# -- support: CSV ----------------------------------------------------------------------------------


def test_helpdesk_csv_with_a_column_map(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "rows.jsonl"
    code, output = prepare(
        "support", "--from", "csv", HELPDESK_CSV, *CSV_MAPS, "--map", "id=Ticket ID", "--out", out,
        "--model", tiny_model,
    )  # fmt: skip
    assert code == 0, output
    assert skip_lines(output) == {
        "no agent reply": 1,
        "no intent": 1,
        "customer message empty after cleaning": 1,
    }
    assert "helpdesk_export.csv line 34" in output  # quoted cells span lines: the record's own first line
    assert "15 rows valid for scenario 'support'" in output
    rows = {row["id"]: row for row in rows_of(out)}
    assert {r["intent"] for r in rows.values()} == {"order_status", "return_request", "refund_status"}
    assert (
        rows["HD-101"]["ticket"].endswith("Can you check?")
        and "Best regards" not in rows["HD-101"]["response"]
    )
    assert rows["HD-102"]["ticket"].startswith("Can I return the Solis heater?")  # HTML cell as text
    assert rows["HD-105"]["ticket"].endswith("How do I send it back?")  # quoted mail gone
    assert rows["HD-114"]["ticket"].endswith("still return it?")  # sign-off, signature and footer gone
    assert rows["HD-101"]["channel"] == "Email" and rows["HD-101"]["subject"] == "Order not here yet"
    validated = CliRunner().invoke(
        cli, ["validate", "support", "--data", str(out), "--model", str(tiny_model)]
    )
    assert validated.exit_code == 0, validated.output


def test_csv_map_errors_name_the_columns(tmp_path: Path) -> None:
    out = tmp_path / "rows.jsonl"
    code, output = prepare(
        "support", "--from", "csv", HELPDESK_CSV, "--map", "reply=Agent Response", "--out", out
    )
    assert code == 2 and not out.exists()
    assert (
        f"{HELPDESK_CSV}:1 field 'Agent Response': no such column (from --map reply=Agent Response)" in output
    )
    assert "the columns are: Ticket ID, Created At, Subject, Body, Agent Reply, Category" in output
    code, output = prepare(
        "support", "--from", "csv", HELPDESK_CSV, "--map", "reply=Agent Reply", "--out", out
    )
    assert code == 2 and "no column for required field(s) ticket, intent" in output
    code, output = prepare("support", "--from", "csv", HELPDESK_CSV, "--map", "urgency=Subject", "--out", out)
    assert code == 2 and "--map 'urgency=Subject': unknown field 'urgency'" in output


# -- content ---------------------------------------------------------------------------------------


def test_posts_folder_becomes_rows_that_validate(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "posts.jsonl"
    code, output = prepare(
        "content", "--from", "folder", POSTS, "--out", out, "--off-brand", OFF_BRAND, "--model", tiny_model
    )
    assert code == 0, output
    assert "8 rows imported" in output and "8 rows valid for scenario 'content'" in output
    assert skip_lines(output) == {
        "not a Markdown or HTML file": 1,
        "breaks the blog/blog rules: words < 150; '## ' headings < 2": 1,
        "social post without a platform": 1,
    }
    assert (
        "note: keywords: 1 post without tags or hashtags took their 3 highest-weighted TF-IDF terms" in output
    )
    rows = {row["id"]: row for row in rows_of(out)}
    swap = rows["2026-04-cuttings-swap"]
    assert swap["keywords"] == [
        "cuttings",
        "swap",
        "bring",
    ]  # TF-IDF: the words this post has and others lack
    assert swap["brief"] == 'Blog post titled "Notes From the Spring Cuttings Swap".'
    html = rows["2026-03-repotting"]["text"]
    assert html.startswith("# When to Repot, and When to Leave It Alone\n\n") and "\n## Afterwards\n" in html
    assert "<" not in html and "- Roots circling" in html
    assert rows["social-x-swap"] == {
        "id": "social-x-swap",
        "type": "social",
        "platform": "x",
        "text": "Cuttings swap this Saturday, 10 till 1, back room. Bring a cutting, take a cutting, bring "
        "your own jar. #CuttingsSwap",
        "keywords": ["cuttings swap"],
        "brief": "X post about cuttings swap.",
        "date": "2026-04-18",
    }


def test_broken_front_matter_names_file_and_line(tmp_path: Path) -> None:
    folder = tmp_path / "posts"
    folder.mkdir()
    (folder / "a.md").write_text("---\ntitle: Fine\ntags: [one, two\n---\nBody\n")
    code, output = prepare("content", "--from", "folder", folder, "--out", tmp_path / "o.jsonl")
    assert code == 2 and f"{folder / 'a.md'}:4 field 'front matter': is not valid YAML" in output


def test_social_export_top_share_and_append(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "content.jsonl"
    common = ["--out", out, "--off-brand", OFF_BRAND, "--model", tiny_model]
    code, output = prepare("content", "--from", "csv", SOCIAL_CSV, *SOCIAL_MAPS, "--top", "50", *common)
    # social posts alone are one content type: fine, the type only balances the split
    assert code == 0 and "7 rows valid for scenario 'content'" in output and len(rows_of(out)) == 7
    assert skip_lines(output) == {
        "below the top 50% by engagement on its platform": 5,
        "breaks the social/x rules: characters > 280": 1,
        "social platform 'tiktok' has no rules in platform_rules.yaml": 1,
        "no text": 1,
    }
    assert "engagement = likes + shares + comments + clicks (empty cells count 0)" in output
    assert "kept the top 50% of each platform's posts by engagement: 7 of 12" in output
    kept = {(r["platform"], r["engagement"]) for r in rows_of(out)}
    best = {("x", 610), ("x", 297), ("x", 212), ("instagram", 2482), ("instagram", 1469), ("linkedin", 261)}
    assert kept == best | {("linkedin", 172)}  # 3 of 5 X posts, 2 of 4 Instagram, 2 of 3 LinkedIn
    assert all(r["keywords"] for r in rows_of(out)) and "took their own hashtags" in output

    assert prepare("content", "--from", "folder", POSTS, *common)[0] == 0
    code, output = prepare(
        "content", "--from", "csv", SOCIAL_CSV, *SOCIAL_MAPS, "--top", "50", "--append", *common
    )
    assert code == 0, output
    assert "wrote 15 rows" in output and "(8 already there, 7 imported)" in output
    assert "type: social 11, blog 4" in output


def test_top_needs_engagement_columns(tmp_path: Path) -> None:
    plain = tmp_path / "posts.csv"
    plain.write_text("text,platform\nHello from the shop #Ashby,x\n")
    code, output = prepare("content", "--from", "csv", plain, "--top", "20", "--out", tmp_path / "o.jsonl")
    assert code == 2 and "--top needs engagement columns (likes, shares, comments, clicks)" in output
    code, output = prepare(
        "content", "--from", "csv", SOCIAL_CSV, *SOCIAL_MAPS, "--top", "0", "--out", tmp_path / "o.jsonl"
    )
    assert code == 2 and "--top '0': give a percentage above 0 and at most 100" in output
    code, output = prepare("content", "--from", "folder", POSTS, "--top", "20", "--out", tmp_path / "o.jsonl")
    assert code == 2 and "--top is an option of --from csv, not of --from folder" in output


# -- the command itself ----------------------------------------------------------------------------


def test_scenario_without_importers_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_entry_points(monkeypatch, {"bare": "tests.test_importers:bare"})
    code, output = prepare("bare", "--from", "zendesk", ZENDESK, "--out", tmp_path / "o.jsonl")
    assert code == 2 and "scenario 'bare' has no importers" in output
    assert "scenario validate bare --data FILE" in output


def test_help_lists_each_kinds_options() -> None:
    code, output = prepare("support", "--help")
    assert code == 0
    assert "zendesk: where the intent is" in " ".join(output.split())
    assert "csv: field=Column" in " ".join(output.split())


# -- message cleaning ------------------------------------------------------------------------------


FOOTER = "This email and any attachments are confidential and intended solely for the addressee."
OUTLOOK = "From: Shop <a@b.com>\nSent: Monday, March 2\nTo: me\nSubject: Order"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Where is it?\n\nOn Tue, Mar 3, 2026 at 9:00 AM Shop <a@b.com> wrote:\n> Shipped.", "Where is it?"),
        ("Refund please.\n\n-----Original Message-----\nFrom: Shop\nSent: Monday\n\nHi", "Refund please."),
        (f"Refund please.\n\n{OUTLOOK}", "Refund please."),
        ("Still broken.\n> earlier line\n> another", "Still broken."),
        ("Is it here yet?\n\nSent from my iPhone", "Is it here yet?"),
        ("It arrived cracked.\n\nThanks, Priya", "It arrived cracked."),
        (
            "It arrived cracked.\n\nKind regards,\nPriya Nair\nStudio Nair\n+1 415 555 0199",
            "It arrived cracked.",
        ),
        ("Any news?\n--\nJane | Acme | 555 0100", "Any news?"),
        (f"Any news?\n\n{FOOTER}", "Any news?"),
        ("<p>Lid <b>cracked</b>.<br>New one?</p><p>Regards, Tomasz</p>", "Lid cracked.\nNew one?"),
        ("Sent from my iPhone", ""),
    ],
)
def test_clean_message(raw: str, clean: str) -> None:
    assert MailCleaner().clean(raw) == clean


@pytest.mark.parametrize(
    "kept",
    [
        "Hi,\n\nThanks, that's longer than usual: refunds take 3-5 days.",  # "Thanks," opening a sentence
        "Steps:\n- unplug it\n- wait a minute\n- plug it back in",  # a hyphen list is no signature
        "Thanks for the photo.\nThe crack is clear, so a new lid ships today.\nBest of luck with the move!",
    ],
)
def test_clean_message_keeps_what_only_looks_like_a_signature(kept: str) -> None:
    assert MailCleaner().clean(kept) == kept


def test_prepare_writes_rows_already_redacted_unless_told_not_to(tiny_model: Path, tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    lines = ["Body,Agent Reply,Category"]
    lines.append(
        '"Order 4411 never came, call me on +44 20 7946 0958 or mail ann.lee@example.com",Sorry!,late'
    )
    lines += [f'"Invoice 2024-0001{i:02d} is wrong",We fixed it.,billing' for i in range(12)]
    lines += [f'"Order 44{i:02d} is late",On its way.,late' for i in range(12)]
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "rows.jsonl"
    code, output = prepare("support", "--from", "csv", export, *CSV_MAPS, "--out", out, "--model", tiny_model)
    assert code == 0, output
    assert "redacted before writing (ticket, response, subject): 1 email, 1 phone" in output
    tickets = [row["ticket"] for row in rows_of(out)]
    assert tickets[0] == "Order 4411 never came, call me on [PHONE] or mail [EMAIL]"
    assert tickets[1] == "Invoice 2024-000100 is wrong"  # a business number, not a phone
    raw = tmp_path / "raw.jsonl"
    code, output = prepare(
        "support", "--from", "csv", export, *CSV_MAPS, "--out", raw, "--model", tiny_model, "--no-redact"
    )
    assert code == 0 and "ann.lee@example.com" in rows_of(raw)[0]["ticket"]


# -- CSV exports as spreadsheets write them; --out as CSV -------------------------------------------


def helpdesk_rows() -> list[list[str]]:
    rows = [
        ["Body", "Agent Reply", "Category"],
        ["Mon café est froid, remboursez-moi", "Désolé, c'est fait.", "billing"],
    ]
    rows += [[f"Order {i} is late, où est-il?", "Il arrive demain.", "late"] for i in range(12)]
    rows += [[f"Invoice {i} is wrong", "Corrigé; merci.", "billing"] for i in range(12)]
    return rows


def write_export(path: Path, rows: list[list[str]], delimiter: str, encoding: str) -> Path:
    text = "".join(
        delimiter.join(f'"{cell}"' if delimiter in cell else cell for cell in row) + "\r\n" for row in rows
    )
    path.write_bytes(text.encode(encoding))
    return path


def test_semicolon_latin1_export_imports_with_its_accents(tiny_model: Path, tmp_path: Path) -> None:
    export = write_export(tmp_path / "export.csv", helpdesk_rows(), ";", "latin-1")
    out = tmp_path / "rows.jsonl"
    args = ["--out", out, "--model", tiny_model, "--allow-leakage"]  # the made-up tickets are near copies
    code, output = prepare("support", "--from", "csv", export, *CSV_MAPS, *args)
    assert code == 0, output
    assert f"note: {export}: read as semicolon-separated, encoding cp1252" in output
    rows = rows_of(out)
    assert (
        rows[0]["ticket"] == "Mon café est froid, remboursez-moi"
        and rows[0]["response"] == "Désolé, c'est fait."
    )
    assert rows[-1]["response"] == "Corrigé; merci."


def test_bad_export_csv_names_its_line(tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    out = tmp_path / "rows.jsonl"
    lines = ["Body;Agent Reply;Category", '"two\nlines";ok;late', "fine;ok;late", "Hi; where; is it;ok;late"]
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, output = prepare("support", "--from", "csv", export, *CSV_MAPS, "--out", out)
    assert code == 2 and not out.exists()
    assert f"{export}:5: row has 5 cells but the header has 3 columns" in output
    assert "A cell holds a semicolon (';') outside quotes" in output
    export.write_text("\n".join(lines[:3]) + '\n"never closed;ok;late\nfine;ok;late\n', encoding="utf-8")
    code, output = prepare("support", "--from", "csv", export, *CSV_MAPS, "--out", out)
    assert code == 2 and f"{export}:5: a double quote opened in this record is never closed" in output


def test_a_10_mb_cell_on_line_3_is_read(tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    huge = "note " * 2_000_000
    export.write_text(
        f'Body,Agent Reply,Category,Notes\nhi,,late,x\nhello,,late,"{huge}"\n', encoding="utf-8"
    )
    code, output = prepare("support", "--from", "csv", export, *CSV_MAPS, "--out", tmp_path / "rows.jsonl")
    assert code == 2 and "2  no agent reply" in output
    assert "export.csv line 2" in output and "export.csv line 3" in output and "field larger" not in output


def test_out_csv_is_real_csv_that_validate_reads_back(tiny_model: Path, tmp_path: Path) -> None:
    common = [
        "support",
        "--from",
        "csv",
        HELPDESK_CSV,
        *CSV_MAPS,
        "--map",
        "id=Ticket ID",
        "--model",
        tiny_model,
    ]
    code, output = prepare(*common, "--out", tmp_path / "rows.jsonl")
    assert code == 0, output
    out = tmp_path / "rows.csv"
    code, output = prepare(*common, "--out", out)
    assert code == 0 and "15 rows valid for scenario 'support'" in output, output
    assert out.read_text(encoding="utf-8").startswith("ticket,response,intent,id,subject,channel")
    as_csv = [
        {k: v for k, v in row.items() if k != "_line"} for row in dataset.load(out, support_scenario).rows
    ]
    as_jsonl = [
        {k: v for k, v in r.items() if k != "_line"}
        for r in dataset.load(tmp_path / "rows.jsonl", support_scenario).rows
    ]
    assert as_csv == as_jsonl
    code, output = prepare(*common, "--out", out, "--append")
    assert code == 2 and "repeats line 2" in output and len(dataset.read_rows(out, support_scenario)) == 30


@pytest.mark.parametrize("name", ["rows.txt", "rows.json", "rows", "rows.parquet"])
def test_out_of_another_format_is_refused_before_any_work(tmp_path: Path, name: str) -> None:
    out = tmp_path / name
    code, output = prepare("support", "--from", "csv", HELPDESK_CSV, *CSV_MAPS, "--out", out)
    assert code == 2 and "prepare writes JSON Lines (.jsonl) or CSV (.csv)" in output
    assert "rows imported" not in output and not out.exists()


def test_out_never_replaces_the_source(tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    export.write_bytes(HELPDESK_CSV.read_bytes())
    code, output = prepare(
        "support", "--from", "csv", export, *CSV_MAPS, "--out", tmp_path / "." / "export.csv"
    )
    assert code == 2 and "is also an input of this command" in output
    assert export.read_bytes() == HELPDESK_CSV.read_bytes()


# -- hostile HTML ----------------------------------------------------------------------------------

DEEP = 100_000  # levels of <div>: markdownify recursed until Python's stack ran out
DEEP_HTML = "<div>" * DEEP + "Where is my order?" + "</div>" * DEEP
DEEP_REASON = "HTML nested more than 200 elements deep"


def test_deeply_nested_html_ticket_is_skipped_not_fatal(tiny_model: Path, tmp_path: Path) -> None:
    export = json.loads(ZENDESK.read_text(encoding="utf-8"))
    deep = {**export["tickets"][1], "id": 6001}
    deep["comments"] = [{**deep["comments"][0], "body": None, "html_body": DEEP_HTML}, deep["comments"][1]]
    export["tickets"].insert(3, deep)
    source = tmp_path / "tickets.json"
    source.write_text(json.dumps(export), encoding="utf-8")
    out = tmp_path / "rows.jsonl"
    flags = ["--intent-from", "tag:intent_", "--out", out, "--model", tiny_model]
    code, output = prepare("support", "--from", "zendesk", source, *flags)
    assert code == 0, output
    assert "Traceback" not in output and "RecursionError" not in output
    assert skip_lines(output)[DEEP_REASON] == 1
    assert "tickets.json record 4 (ticket 6001)" in output  # the example names the record
    assert len(rows_of(out)) == 15 and "6001" not in {row["id"] for row in rows_of(out)}


def test_deeply_nested_html_cell_is_skipped_not_fatal(tiny_model: Path, tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    text = HELPDESK_CSV.read_text(encoding="utf-8")
    deep = "<div>" * 10_000 + "Where is it?" + "</div>" * 10_000  # a CSV cell holds at most 128 KiB
    export.write_text(text + f'HD-999,2026-02-09 10:00,Deep,"{deep}",On its way.,order_status,Email,new\n')
    out = tmp_path / "rows.jsonl"
    code, output = prepare("support", "--from", "csv", export, *CSV_MAPS, "--out", out, "--model", tiny_model)
    assert code == 0 and "Traceback" not in output and skip_lines(output)[DEEP_REASON] == 1
    last_line = text.count("\n") + 1
    assert f"export.csv line {last_line}" in output and "15 rows imported" in output


def test_deeply_nested_html_post_is_skipped_not_fatal(tiny_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "posts"
    shutil.copytree(POSTS, folder)
    (folder / "deep.html").write_text(f"---\ntitle: Deep\n---\n<p>Intro</p>{DEEP_HTML}\n", encoding="utf-8")
    code, output = prepare(
        "content", "--from", "folder", folder, "--out", tmp_path / "posts.jsonl", "--off-brand", OFF_BRAND,
        "--model", tiny_model,
    )  # fmt: skip
    assert code == 0 and "Traceback" not in output
    assert skip_lines(output)[DEEP_REASON] == 1 and "deep.html" in output
    assert "8 rows imported" in output


def test_deep_html_is_refused_before_it_is_parsed() -> None:
    started = time.perf_counter()
    with pytest.raises(UnreadableHtml, match=DEEP_REASON):
        html_to_text(DEEP_HTML)
    assert time.perf_counter() - started < 1  # parsing it whole took BeautifulSoup 11 s


@pytest.mark.parametrize(
    "html",
    [
        "<p>a" * 300 + "b",  # unclosed paragraphs nest in the parsed tree, so they count as levels
        "<section><!-- </section> -->" * 300,  # an end tag inside a comment closes nothing
    ],
)
def test_html_too_deep_as_the_tree_is_built(html: str) -> None:
    with pytest.raises(UnreadableHtml, match=DEEP_REASON):
        html_to_text(html)


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<div>" * 150 + "kept" + "</div>" * 150, "kept"),  # deep, but within the limit
        ("<br>" * 500 + "<img src=x>" * 500 + "kept", "kept"),  # void elements hold nothing
        ("</span>" * 500 + "<div>" * 150 + "kept", "kept"),  # stray end tags close nothing
        ("<ul>" + "<li>item</li>" * 1000 + "</ul>", "\n".join(["- item"] * 1000)),  # many, side by side
    ],
)
def test_html_within_the_depth_limit_is_converted(html: str, text: str) -> None:
    assert html_to_text(html) == text


# -- quoted mail in other languages ----------------------------------------------------------------

LANGUAGES_CSV = CORPUS / "helpdesk_languages.csv"  # one quoted reply per language and mail client
NEW_TEXT = {
    "ML-1": "Meine Bestellung BN-7001 ist noch nicht angekommen. Wo ist sie?",  # de, Gmail
    "ML-2": "Ich möchte den Wasserkocher zurückgeben, er ist zu laut.",  # de, Outlook
    "ML-3": "Ma commande BN-7003 n'est toujours pas arrivée, pouvez-vous vérifier ?",  # fr, Gmail
    "ML-4": "Je voudrais renvoyer le grille-pain, il ne chauffe pas.",  # fr, Outlook
    "ML-5": "Mi pedido BN-7005 todavía no ha llegado.",
    "ML-6": "Vorrei restituire il frullatore, è arrivato rotto.",
    "ML-7": "Mijn bestelling BN-7007 is nog niet bezorgd.",
    "ML-8": "Quero devolver a torradeira, não funciona.",
}


def test_quoted_replies_in_other_languages_are_cut(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "rows.jsonl"
    maps = ["--map", "id=Ticket ID", *CSV_MAPS]
    code, output = prepare(
        "support", "--from", "csv", LANGUAGES_CSV, *maps, "--out", out, "--model", tiny_model
    )
    assert code == 0, output
    assert {row["id"]: row["ticket"] for row in rows_of(out)} == NEW_TEXT
    assert "messages with such headers, by language: de 2, es 1, fr 2, it 1, nl 1, pt 1." in output


def test_languages_option_chooses_the_headers_cut(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "rows.jsonl"
    maps = ["--map", "id=Ticket ID", *CSV_MAPS, "--languages", "DE, pt"]
    code, output = prepare(
        "support", "--from", "csv", LANGUAGES_CSV, *maps, "--out", out, "--model", tiny_model
    )
    assert code == 0, output
    tickets = {row["id"]: row["ticket"] for row in rows_of(out)}
    assert tickets["ML-1"] == NEW_TEXT["ML-1"] and tickets["ML-8"] == NEW_TEXT["ML-8"]
    assert "a écrit :" in tickets["ML-3"]  # French was not chosen: its header stays
    assert "quoted mail cut at reply headers in en, de, pt" in output


@pytest.mark.parametrize("spec", ["de,xx", ",", "german"])
def test_unknown_language_is_one_clear_error(spec: str, tmp_path: Path) -> None:
    out = tmp_path / "rows.jsonl"
    code, output = prepare(
        "support", "--from", "csv", LANGUAGES_CSV, *CSV_MAPS, "--languages", spec, "--out", out
    )
    assert code == 2 and f"--languages {spec!r}: no reply headers known for" in output
    assert "Give comma-separated codes from: cs, da, de, en, es, fr, it, ja, ko, nl, pl, pt, sv, zh" in output
    assert "Traceback" not in output and not out.exists()


def test_english_reply_keeps_lines_that_only_resemble_foreign_headers() -> None:
    text = "Le Creuset pot arrived.\nEl Paso store said to write here.\nOp art print is fine."
    assert MailCleaner().clean(text) == text


# -- support: threads ------------------------------------------------------------------------------

THREADS = CORPUS / "zendesk_threads.json"  # ticket 8001: three exchanges, two internal notes
PRIVATE_NOTES = ("check whether lids are in stock", "lid reserved, order LID-5521")


def test_each_agent_reply_becomes_a_row_with_the_thread_before_it(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "rows.jsonl"
    flags = ["--intent-from", "tag:intent_", "--out", out, "--model", tiny_model]
    code, output = prepare("support", "--from", "zendesk", THREADS, *flags)
    assert code == 0, output
    assert "19 rows imported" in output and "19 rows valid for scenario 'support'" in output
    rows = {row["id"]: row for row in rows_of(out)}
    first, second, third = rows["8001"], rows["8001-2"], rows["8001-3"]
    assert {row["thread"] for row in (first, second, third)} == {"8001"}
    assert "history" not in first and len(second["history"]) == 2 and len(third["history"]) == 4
    assert third["history"][:2] == second["history"]  # the context grows turn by turn, oldest first
    assert third["history"][2:] == [
        {"role": "customer", "text": second["ticket"]},
        {"role": "agent", "text": second["response"]},
    ]
    assert second["history"] == [
        {"role": "customer", "text": first["ticket"]},
        {"role": "agent", "text": first["response"]},
    ]
    # two customer messages before an answer are one turn: signatures gone, the follow-up kept
    assert second["ticket"] == (
        "Here it is, the crack runs along the rim. Write to [EMAIL] if you need more.\n\n"
        "Also, can I still use the jug in the meantime?"
    )  # redacted in the history too, which repeats it:
    assert "ola.nowak" not in out.read_text(encoding="utf-8") and "2 email" in output
    assert third["ticket"] == "Great. When will it arrive?" and third["response"].startswith("It is booked")
    assert not any(note in out.read_text(encoding="utf-8") for note in PRIVATE_NOTES)


def test_first_reply_only_and_private_notes(tiny_model: Path, tmp_path: Path) -> None:
    first_only = read_zendesk(THREADS, {"intent_from": "tag:intent_", "first_reply_only": True})
    assert [row["id"] for row in first_only.rows] == [str(i) for i in range(8001, 8013)]
    assert not any("history" in row for row in first_only.rows)
    out = tmp_path / "rows.jsonl"
    flags = ["--intent-from", "tag:intent_", "--out", out, "--model", tiny_model]
    code, output = prepare(
        "support", "--from", "zendesk", THREADS, *flags, "--first-reply-only", "--include-private"
    )
    assert code == 0, output
    assert "12 rows imported" in output and "a row for the first reply" in output
    text = out.read_text(encoding="utf-8")
    assert PRIVATE_NOTES[0] in text  # asked for: the note is the agent's first turn, joined to the reply
    assert PRIVATE_NOTES[1] not in text  # it comes after the first reply
    code, output = prepare("support", "--from", "zendesk", THREADS, *flags)
    assert code == 0, output
    assert not any(note in out.read_text(encoding="utf-8") for note in PRIVATE_NOTES)
    assert "private comments are never read" in output


def test_switches_take_no_value(tmp_path: Path) -> None:
    out = tmp_path / "rows.jsonl"
    code, output = prepare(
        "support", "--from", "csv", HELPDESK_CSV, *CSV_MAPS, "--first-reply-only", "--out", out
    )
    assert code == 2 and "--first-reply-only is an option of --from zendesk, not of --from csv" in output
    code, output = prepare("support", "--from", "zendesk", THREADS, "--first-reply-only", "yes", "--out", out)
    assert code == 2 and "Traceback" not in output and not out.exists()
