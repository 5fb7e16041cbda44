"""The content scenario: rules, keyword coverage, readability, the brand-voice check, templates,
row checks, and the per-type mode on the tiny model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from scenario_pack.core import config as config_mod
from scenario_pack.core.cli import cli
from scenario_pack.core.data.validation import prepare
from scenario_pack.core.errors import DataError
from scenario_pack.core.plugins.scenario import Scored
from scenario_pack.scenarios.content import rules, style, voice
from scenario_pack.scenarios.content import scenario as content
from tests.conftest import ROOT, write_jsonl

CONTENT = ROOT / "data_templates" / "content"
SHIPPED_RULES = rules.load(ROOT / "scenarios" / "content" / "platform_rules.yaml")
QUICK = "--max-steps 2 --batch-size 4 --set eval.max_new_tokens=8 --set eval.bootstrap=50 --quiet".split()


def blog(words: int, headings: int = 2, title: str = "# A title") -> str:
    body = " ".join(["leaf"] * words)
    sections = "\n\n".join(f"## Part {i}\n\nmore" for i in range(headings))
    return f"{title}\n\n{body}\n\n{sections}"


@pytest.mark.parametrize(
    ("text", "kind", "platform", "broken"),
    [
        ("x" * 270 + " #GrowSlow", "social", "x", []),
        ("x" * 272 + " #GrowSlow", "social", "x", ["282 characters > 280"]),
        ("No tags at all here", "social", "x", ["0 hashtags < 1"]),
        ("Too many #a #b #c", "social", "x", ["3 hashtags > 2"]),
        ("Caption with #one and C# and rock&#roll", "social", "instagram", []),
        (blog(150), "blog", "blog", []),
        (blog(150, headings=1), "blog", "blog", ["1 '## ' headings < 2"]),
        (blog(150, title="A title"), "blog", "blog", ["no '# Title' first line"]),
        (blog(20), "blog", "blog", ["28 words < 150"]),
        ("Subject: Repotting day\n\n" + "word " * 70, "email", "email", []),
        ("Hello\n\n" + "word " * 70, "email", "email", ["no 'Subject:' first line"]),
        (
            "Subject: " + "long " * 20 + "\n\n" + "word " * 70,
            "email",
            "email",
            ["subject longer than 60 characters"],
        ),
    ],
)
def test_platform_rules(text: str, kind: str, platform: str, broken: list[str]) -> None:
    assert rules.check(text, rules.for_row(SHIPPED_RULES, kind, platform)) == broken


def test_rules_are_described_in_words_and_bad_rules_files_are_refused(tmp_path: Path) -> None:
    assert rules.describe(SHIPPED_RULES["social"]["x"]) == "at most 280 characters; 1 to 2 hashtags"
    assert "'Subject: '" in rules.describe(SHIPPED_RULES["email"]["default"])
    bad = tmp_path / "rules.yaml"
    bad.write_text("social:\n  x: {max_charz: 10}\n")
    with pytest.raises(Exception, match="max_charz"):
        rules.load(bad)


def test_keyword_coverage_is_case_and_inflection_tolerant() -> None:
    text = "Repotting season: bring your Cuttings to the swap. Peat-free compost only."
    assert style.keyword_coverage(text, ["repot"]) == 1.0
    assert style.keyword_coverage(text, ["cutting", "peat-free"]) == 1.0
    assert style.keyword_coverage(text, ["cuttings swap", "grow lights"]) == 0.0  # not contiguous; absent
    assert style.keyword_coverage(text, ["compost", "grow light"]) == 0.5


def test_reading_ease_ranks_plain_above_dense_text() -> None:
    plain = "Water it less. Check the soil first. Wait a week."
    dense = (
        "Physiological desiccation notwithstanding, horticultural practitioners "
        "recommend intermittent irrigation."
    )
    assert style.reading_ease(plain) > 80 > 20 > style.reading_ease(dense)
    assert math.isnan(style.reading_ease("## \n#"))  # no words: no score, rather than a made-up one


def shipped_rows() -> list[dict]:
    return [json.loads(line) for line in (CONTENT / "posts.jsonl").read_text().splitlines()]


def off_brand_texts() -> list[str]:
    return [json.loads(line)["text"] for line in (CONTENT / "off_brand.jsonl").read_text().splitlines()]


def test_brand_voice_tells_held_out_brand_from_off_brand_texts() -> None:
    rows = shipped_rows()
    train, held = rows[: len(rows) * 4 // 5], rows[len(rows) * 4 // 5 :]
    model = voice.fit([r["text"] for r in train], off_brand_texts(), seed=0)
    auc = model.auc([r["text"] for r in held])
    assert auc is not None and auc >= 0.9
    brand_scores = model.score([r["text"] for r in held])
    off_scores = model.score(model.held_out_off_brand)
    assert sum(brand_scores) / len(brand_scores) > 0.5 > sum(off_scores) / len(off_scores)


def test_off_brand_file_problems_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "off.jsonl"
    path.write_text('{"text": "fine"}\n{"txt": "oops"}\nnot json\n')
    with pytest.raises(DataError) as info:
        voice.load_off_brand(path)
    assert f"{path}:2 field 'text'" in str(info.value) and f"{path}:3" in str(info.value)
    with pytest.raises(DataError, match="off-brand texts not found"):
        voice.load_off_brand(tmp_path / "missing.jsonl")


def prepared_sample(tmp_path: Path, rows: list[dict] | None = None):
    config = config_mod.resolve(content.defaults())
    data = tmp_path / "posts.jsonl"
    write_jsonl(data, rows if rows is not None else shipped_rows()[:90])
    (tmp_path / "off_brand.jsonl").write_text((CONTENT / "off_brand.jsonl").read_text())
    return prepare(content, config, data, None)


def test_each_type_uses_its_template_and_states_its_rules(tmp_path: Path) -> None:
    prepared = prepared_sample(tmp_path)
    by_type = {}
    for row, ex in zip(prepared.train, prepared.examples["train"], strict=True):
        by_type.setdefault((row["type"], row.get("platform")), (row, ex))
    (_, blog_ex), (_, x_ex) = by_type[("blog", "blog")], by_type[("social", "x")]
    assert (
        "Write a blog post." in blog_ex.prompt[1]["content"]
        and "'## ' section headings" in blog_ex.prompt[1]["content"]
    )
    assert (
        "Write a x post." in x_ex.prompt[1]["content"]
        and "at most 280 characters" in x_ex.prompt[1]["content"]
    )
    row, ex = by_type[("email", "email")]
    assert ex.completion == row["text"].strip() and "Keywords to use: " in ex.prompt[1]["content"]
    no_text = {k: v for k, v in row.items() if k != "text"}
    assert content.prompt(no_text, prepared.context) == ex.prompt  # a brief alone renders the same prompt
    assert content.max_new_tokens(by_type[("social", "x")][0], prepared.context, 420) == 90
    assert content.max_new_tokens(by_type[("blog", "blog")][0], prepared.context, 8) == 8


def test_bad_rows_name_file_line_and_field(tmp_path: Path) -> None:
    rows = shipped_rows()[:90]
    rows[3] = {**rows[3], "type": "press_release"}
    rows[5] = {**rows[5], "type": "social", "platform": "myspace"}
    rows[7] = {**rows[7], "keywords": ["ok", ""]}
    with pytest.raises(DataError) as info:
        prepared_sample(tmp_path, rows)
    message = str(info.value)
    assert "posts.jsonl:8 field 'keywords': must be a list of non-empty strings" in message
    rows[7] = shipped_rows()[7]
    with pytest.raises(DataError) as info:
        prepared_sample(tmp_path, rows)
    message = str(info.value)
    assert ":4 field 'type': content type 'press_release' has no entry in the rules file" in message
    assert ":6 field 'platform': social platform 'myspace' has no rules" in message


def test_metrics_score_a_hand_checked_example(tmp_path: Path) -> None:
    prepared = prepared_sample(tmp_path)
    row = next(r for r in prepared.test if r.get("platform") == "x")
    own = content.score({"text": row["text"]}, row, prepared.context)
    assert own["constraints_ok"] == 1.0 and own["rouge_l"] == pytest.approx(1.0)
    assert own["keyword_coverage"] == 1.0
    spam = "BUY NOW!!! Elevate your space with our curated must-have plants! " * 6
    other = content.score({"text": spam}, row, prepared.context)
    assert other["constraints_ok"] == 0.0 and other["brand_voice"] < own["brand_voice"]
    assert other["keyword_coverage"] < 1.0


def test_per_type_mode_trains_one_adapter_per_type_and_compares(tiny_model: Path, tmp_path: Path) -> None:
    data = tmp_path / "posts.jsonl"
    write_jsonl(data, shipped_rows()[:90])
    (tmp_path / "off_brand.jsonl").write_text((CONTENT / "off_brand.jsonl").read_text())
    out = tmp_path / "run"
    args = ["run", "content", "--data", str(data), "--model", str(tiny_model), "--output", str(out)]
    result = CliRunner().invoke(cli, [*args, "--per-type", *QUICK])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    types = {r["type"] for r in report_rows(out)}
    for kind in types:
        assert (out / "adapters" / f"type={kind}" / "adapter_config.json").exists()
    table = report["details"]["Per-type adapters vs the single adapter"]
    assert {row[0] for row in table["rows"]} == types
    assert {row[-1] for row in table["rows"]} <= {"per-type adapter", "single adapter", "no clear difference"}
    assert set(report["training"]["per_group"]) == types
    assert "Metrics by type" in report["details"] and "Brand-voice check" in report["details"]
    assert "Per-type adapters vs the single adapter" in (out / "report.md").read_text()
    predictions = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert all("per_type" in p and "scores" in p["per_type"] for p in predictions)


def report_rows(out: Path) -> list[dict]:
    return rows(out / "data" / "test.jsonl")


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_generate_needs_the_content_type_and_checks_it(tiny_model: Path, tmp_path: Path) -> None:
    data = tmp_path / "posts.jsonl"
    write_jsonl(data, shipped_rows()[:90])
    (tmp_path / "off_brand.jsonl").write_text((CONTENT / "off_brand.jsonl").read_text())
    base = ["generate", "content", "--data", str(data), "--model", str(tiny_model)]
    missing = CliRunner().invoke(cli, [*base, "Cuttings swap this Sunday"])
    assert missing.exit_code == 2 and "needs --field type=..." in missing.output
    wrong = CliRunner().invoke(cli, [*base, "--field", "type=social", "--field", "platform=myspace", "hi"])
    assert wrong.exit_code == 2 and "platform 'myspace' has no rules" in wrong.output
    ok = CliRunner().invoke(cli, [*base, "--field", "type=social", "--field", "platform=x", "Swap on Sunday"])
    assert ok.exit_code == 0, ok.output


def test_without_off_brand_texts_the_base_models_answers_stand_in(tiny_model: Path, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "posts.jsonl", shipped_rows()[:90])
    common = ["content", "--data", str(data), "--model", str(tiny_model)]
    checked = CliRunner().invoke(cli, ["validate", *common])
    assert checked.exit_code == 0, checked.output
    assert (
        f"note: no off-brand texts ({tmp_path / 'off_brand.jsonl'} not found): the run will use the base "
        "model's own answers to up to 60 training briefs" in checked.output
    )
    out = tmp_path / "run"
    run = ["run", *common, "--output", str(out), "--baseline", "none", *QUICK]
    result = CliRunner().invoke(cli, run)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    source = "base model's own answers to 60 training briefs"
    assert report["context"]["off-brand texts (brand-voice negatives)"] == source
    stated, auc, _ = report["details"]["Brand-voice negatives"]["rows"][0]
    assert stated == source and 0.0 <= auc <= 1.0
    assert source in (out / "report.md").read_text() and "context_answers" in report["timings"]
    stage = out / "stages" / "context_answers.json"
    asked = [prompt[-1]["content"] for prompt in json.loads(stage.read_text())["prompts"]]
    briefs = {
        part: {row["brief"].strip() for row in rows(out / "data" / f"{part}.jsonl")}
        for part in ("train", "test")
    }
    assert len(asked) == 60
    assert all(
        any(b in text for b in briefs["train"]) and not any(b in text for b in briefs["test"])
        for text in asked
    )

    made = stage.stat().st_mtime_ns
    for name in ("report.json", "stages/tuned_outputs.json"):
        (out / name).unlink()  # as if the run died after training
    resumed = CliRunner().invoke(cli, [*run, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert stage.stat().st_mtime_ns == made  # the saved answers were reused, not regenerated
    assert (
        json.loads((out / "report.json").read_text())["details"]["Brand-voice negatives"]["rows"][0][1] == auc
    )

    assert CliRunner().invoke(cli, ["eval", str(out)]).exit_code == 0  # re-scoring reuses them too
    stage.unlink()
    rescored = CliRunner().invoke(cli, ["eval", str(out)])
    assert (
        rescored.exit_code == 2
        and f"{stage}: the base model's answers to 60 training rows" in rescored.output
    )


def test_a_named_off_brand_file_that_is_missing_is_an_error(tiny_model: Path, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "posts.jsonl", shipped_rows()[:90])
    missing = tmp_path / "voices.jsonl"
    args = [
        "validate",
        "content",
        "--data",
        str(data),
        "--model",
        str(tiny_model),
        "--off-brand",
        str(missing),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and f"{missing}: off-brand texts not found" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("off_brand", "reading"),
    [
        ("shipped", "the score tells the brand's voice from these texts"),
        (
            "brand",
            "below 0.7: the score cannot tell the voices apart well, so brand_voice says little. "
            "Give --off-brand",
        ),
    ],
)
def test_the_report_reads_the_voice_scores_auc(off_brand: str, reading: str, tmp_path: Path) -> None:
    """Off-brand texts that are really the brand's own (more posts) leave the score unable to tell."""
    data = write_jsonl(tmp_path / "posts.jsonl", shipped_rows()[:90])
    if off_brand == "brand":
        write_jsonl(tmp_path / "off_brand.jsonl", [{"text": r["text"]} for r in shipped_rows()[90:150]])
    else:
        (tmp_path / "off_brand.jsonl").write_text((CONTENT / "off_brand.jsonl").read_text())
    prepared = prepare(content, config_mod.resolve(content.defaults()), data, None)
    scored = [
        Scored(
            row,
            row["text"],
            {"text": row["text"]},
            content.score({"text": row["text"]}, row, prepared.context),
            0,
        )
        for row in prepared.test
    ]
    [[source, auc, said]] = content.details(scored, scored, prepared.context)["Brand-voice negatives"]["rows"]
    count = 60 if off_brand == "brand" else len(off_brand_texts())
    assert source == f"{tmp_path / 'off_brand.jsonl'}, {count} texts"
    assert said.startswith(reading) and (auc < 0.7) == (off_brand == "brand")
