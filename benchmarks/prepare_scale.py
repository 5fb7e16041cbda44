"""Scale: `scenario prepare support --from zendesk` on a synthetic export of N tickets.

    python benchmarks/prepare_scale.py [--sizes 5000 50000] [--old-size 5000] [--old-ref COMMIT]

Writes a Zendesk export (threads with private notes, quoted mail, signatures, some HTML bodies, and
planted near-copies of earlier tickets; sentences drawn from the support sample) in a temporary
folder, runs the real command (with --allow-leakage, so validation runs to its end) in a child
process per size, and prints the seconds of each stage, the child's peak resident memory, the
growth in time against linear growth in rows, the same command run by the code of --old-ref (every
pair of texts compared) side by side, and the recall of the LSH search against the exact one on
the shipped samples and on the export.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, SUPPORT_SAMPLE, table  # noqa: E402

OLD_REF = "a958b69"  # the last commit before the LSH search: every pair of texts compared
STAGES = (
    "import (read, clean, redact, write)",
    "validation: schema, split",
    "validation: near copies",
    "validation: tokenizer and token lengths",
)

OPENINGS = ["Hi,", "Hello,", "Hi there,", "Good morning,", "Dear support,", "Hey team,", "", ""]
NAMES = ["Maria Lopez", "Tom Becker", "Aiko Tanaka", "Sam Patel", "Olu Ade", "Lena Novak", "Chris Wu"]
NUMBER = re.compile(r"\b(?:BN-)?\d{3,}\b")
PLANTED_SHARE = 0.005  # tickets that re-send an earlier ticket with one detail changed


@dataclass
class Sentences:
    """The shipped support sample cut into sentences: tickets are drawn from them, so two synthetic
    tickets overlap about as much as two of the sample's do (char n-gram sets: mean Jaccard ~0.06)."""

    asked: dict[str, list[str]]  # intent -> sentences of its tickets
    answered: dict[str, list[str]]  # intent -> sentences of its replies
    anything: list[str]  # every ticket sentence

    @classmethod
    def load(cls) -> Sentences:
        asked: dict[str, list[str]] = {}
        answered: dict[str, list[str]] = {}
        for line in SUPPORT_SAMPLE.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            asked.setdefault(row["intent"], []).extend(re.split(r"(?<=[.!?])\s+", row["ticket"]))
            answered.setdefault(row["intent"], []).extend(re.split(r"(?<=[.!?])\s+", row["response"]))
        return cls(asked, answered, [s for group in asked.values() for s in group])


def _renumber(text: str, rng: random.Random) -> str:
    return NUMBER.sub(
        lambda m: f"BN-{rng.randrange(10_000, 99_999)}" if "BN-" in m[0] else str(rng.randrange(100, 9_999)),
        text,
    )


def _customer_message(intent: str, sentences: Sentences, rng: random.Random) -> str:
    parts = [rng.choice(sentences.asked[intent])] + rng.sample(sentences.anything, rng.randrange(1, 4))
    body = _renumber(" ".join(parts), rng)
    text = f"{rng.choice(OPENINGS)}\n\n{body}\n\nThanks,\n{rng.choice(NAMES)}".strip()
    if rng.random() < 0.3:
        text += "\nSent from my iPhone"
    if rng.random() < 0.3:
        text += "\n\nOn Mon, Mar 2, 2026 at 9:14 AM Brightnest <orders@brightnest.com> wrote:\n> Thanks!"
    return text


def _near_copy(text: str, rng: random.Random) -> str:
    """The same ticket sent again: another number, a typo, or a line added."""
    change = rng.randrange(3)
    if change == 0:
        return _renumber(text, rng) if NUMBER.search(text) else text + " Any news?"
    if change == 1:
        at = rng.randrange(len(text))
        return text[:at] + text[at] + text[at:]
    return text.replace("\n\n", "\n\nSorry to write again. ", 1)


def _ticket(
    number: int, message: str, intent: str, sentences: Sentences, rng: random.Random
) -> dict[str, Any]:
    requester, agent = 900_000 + number, 7_000 + rng.randrange(40)
    reply = _renumber(" ".join(rng.sample(sentences.answered[intent], 3)), rng)
    first: dict[str, Any] = {"author_id": requester, "public": True, "created_at": "2026-03-05T08:02:00Z"}
    if rng.random() < 0.15:
        first["html_body"] = (
            "<div><p>" + message.replace("\n\n", "</p><p>").replace("\n", "<br>") + "</p></div>"
        )
    else:
        first["body"] = message
    comments = [
        first,
        {
            "author_id": agent,
            "public": False,
            "body": f"Internal: checked with the warehouse, ops ticket OPS-{rng.randrange(9999)}.",
            "created_at": "2026-03-05T08:30:00Z",
        },
        {
            "author_id": agent,
            "public": True,
            "body": f"Hi,\n\n{reply}\n\nBest regards,\n{rng.choice(NAMES).split()[0]}\nBrightnest Support",
            "created_at": "2026-03-05T09:10:00Z",
        },
    ]
    if rng.random() < 0.4:
        comments.append(
            {
                "author_id": requester,
                "public": True,
                "body": "Great, thank you!",
                "created_at": "2026-03-05T10:00:00Z",
            }
        )
    return {
        "id": 100_000 + number,
        "subject": message.split("\n")[-1][:60]
        if rng.random() < 0.1
        else f"About my {intent.replace('_', ' ')}",
        "description": message,
        "tags": [f"intent_{intent}", rng.choice(["vip", "web", "repeat", "new"])],
        "via": {"channel": rng.choice(["email", "web", "chat"])},
        "requester_id": requester,
        "type": "question",
        "priority": rng.choice(["low", "normal", "high"]),
        "custom_fields": [{"id": 360011, "value": intent}],
        "created_at": "2026-03-05T08:02:00Z",
        "comments": comments,
    }


def write_export(path: Path, size: int, seed: int = 0) -> int:
    """A Zendesk export of `size` tickets ({"tickets": [...]}); returns how many are planted near-copies."""
    rng, sentences = random.Random(seed), Sentences.load()
    tickets, messages, planted = [], [], 0
    for number in range(size):
        if messages and rng.random() < PLANTED_SHARE:
            intent, earlier = rng.choice(messages)
            message, planted = _near_copy(earlier, rng), planted + 1
        else:
            intent = rng.choice(list(sentences.asked))
            message = _customer_message(intent, sentences, rng)
            messages.append((intent, message))
        tickets.append(_ticket(number, message, intent, sentences, rng))
    path.write_text(json.dumps({"tickets": tickets, "next_page": None, "count": size}), encoding="utf-8")
    return planted


def child(export: Path, out: Path, code: Path | None) -> None:
    """Run `scenario prepare support --from zendesk` in this process; print stage times and peak RSS as JSON.

    The stages are timed by wrapping the functions the command calls between them. With `code`, the
    project's modules are imported from that folder (an earlier commit's core/ and scenarios/).
    """
    if code:
        sys.path.insert(0, str(code))  # found before the editable install's finder
    from scenario_pack.core import atomic
    from scenario_pack.core.cli import cli
    from scenario_pack.core.data import quality, validation

    marks: dict[str, float] = {}

    def mark(name: str, function: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            marks[f"{name} start"] = time.perf_counter()
            result = function(*args, **kwargs)
            marks[f"{name} end"] = time.perf_counter()
            return result

        return timed

    atomic.write_jsonl = mark("write", atomic.write_jsonl)
    validation.prepare = mark("prepare", validation.prepare)
    quality.inspect = mark("inspect", quality.inspect)
    validation.measure_tokens = mark("tokens", validation.measure_tokens)
    start = time.perf_counter()
    args = ["prepare", "support", "--from", "zendesk", str(export), "--intent-from", "tag:intent_"]
    cli.main(
        [*args, "--out", str(out), "--allow-leakage", "--quiet"], prog_name="scenario", standalone_mode=False
    )
    inspect_seconds = marks["inspect end"] - marks["inspect start"]
    seconds = [
        marks["write end"] - start,
        marks["prepare end"] - marks["prepare start"] - inspect_seconds,
        inspect_seconds,
        marks["tokens end"] - marks["prepare end"],
    ]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30
    total = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "total": total, "peak_gib": peak, "code": quality.__file__}))


def measure(size: int, folder: Path, code: Path | None = None) -> dict[str, Any]:
    """One size in its own process, so each has its own peak memory."""
    export, out = folder / f"zendesk_{size}.json", folder / f"rows_{size}{'_old' if code else ''}.jsonl"
    if not export.exists():
        write_export(export, size)
    command = [
        sys.executable,
        __file__,
        "--child",
        str(export),
        str(out),
        *(["--code", str(code)] if code else []),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"prepare on {size} tickets failed:\n{result.stdout[-2000:]}{result.stderr[-4000:]}")
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    if code and not measured["code"].startswith(str(code)):
        sys.exit(f"the old side ran {measured['code']}, not the code of {code}")
    return {**measured, "size": size, "rows": out}


def old_code(ref: str, folder: Path) -> Path:
    """core/ and scenarios/ of commit `ref`, laid out as the package scenario_pack, to import instead."""
    code = folder / "old"
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", ref, "core", "scenarios"], capture_output=True
    )
    if archive.returncode != 0:
        sys.exit(f"cannot read commit {ref}: {archive.stderr.decode()[-500:]}")
    (code / "scenario_pack").mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(code / "scenario_pack")], input=archive.stdout, check=True)
    return code


def recall(train: list[str], test: list[str]) -> tuple[str, str]:
    """Share of the rows the exact search flags that LSH flags too: within training, test to training."""
    from scenario_pack.core.data import quality, similarity

    limit = similarity.EXACT_PAIRS
    similarity.EXACT_PAIRS = 10**18
    exact = similarity.near_copies(train, test, quality.NEAR_SIMILARITY)
    similarity.EXACT_PAIRS = 0
    approximate = similarity.near_copies(train, test, quality.NEAR_SIMILARITY)
    similarity.EXACT_PAIRS = limit

    def share(found: list[Any], wanted: list[Any]) -> str:
        hits = len({i for i, _, _ in found} & {i for i, _, _ in wanted})
        return f"{hits}/{len(wanted)}" + (f" = {hits / len(wanted):.3f}" if wanted else "")

    return share(approximate.within, exact.within), share(approximate.across, exact.across)


def recall_rows() -> list[list[Any]]:
    """Recall on each shipped sample (first 80% as training rows, the rest as test rows)."""
    from scenario_pack.core.plugins import registry

    rows = []
    for name, file in (("support", "tickets.jsonl"), ("content", "posts.jsonl"), ("code", "tasks.jsonl")):
        field = registry.load(name).input_field
        texts = [json.loads(line)[field] for line in (ROOT / "data_templates" / name / file).open()]
        cut = int(0.8 * len(texts))
        rows.append(
            [f"data_templates/{name}/{file} ({field})", len(texts), *recall(texts[:cut], texts[cut:])]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[5_000, 50_000], metavar=("SMALL", "LARGE"))
    parser.add_argument("--old-size", type=int, default=5_000, help="size run with the exact search too")
    parser.add_argument("--recall-size", type=int, default=5_000, help="synthetic rows compared both ways")
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--code", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--old-ref", default=OLD_REF, help="commit whose code is timed as the old side")
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.code)
        return
    from scenario_pack.core.data import similarity
    from scenario_pack.core.runtime import hardware

    cpu = hardware.detect()
    flags = " ".join(cpu.summary()["cpu_flags"])
    print(
        f"machine: {cpu.cpu_model}, {cpu.cores} cores, flags {flags}; timings are contended if it is shared"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        small, large = (measure(size, folder) for size in args.sizes)
        old = measure(args.old_size, folder, old_code(args.old_ref, folder))
        synthetic = [json.loads(line)["ticket"] for line in small["rows"].open()][: args.recall_size]
        cut = int(0.8 * len(synthetic))
        synthetic_recall = recall(synthetic[:cut], synthetic[cut:])
    header = [
        "stage",
        *(f"{r['size']:,} tickets (s)" for r in (small, large)),
        f"{old['size']:,}, old code (s)",
    ]
    body = [
        [stage, *(f"{r['seconds'][k]:.1f}" for r in (small, large, old))] for k, stage in enumerate(STAGES)
    ]
    body.append(["total, with start-up", *(f"{r['total']:.1f}" for r in (small, large, old))])
    body.append(["peak memory (GiB, RSS)", *(f"{r['peak_gib']:.2f}" for r in (small, large, old))])
    print(table(header, body))

    def ratio(a: dict[str, Any], b: dict[str, Any]) -> str:
        return f"total x{a['total'] / b['total']:.1f}, near copies x{a['seconds'][2] / b['seconds'][2]:.1f}"

    rows_ratio = large["size"] / small["size"]
    print(
        f"{small['size']:,} -> {large['size']:,} tickets: {ratio(large, small)}; linear is x{rows_ratio:.0f}"
    )
    if old["size"] == small["size"]:
        print(f"at {old['size']:,} tickets, old code over new: {ratio(old, small)}")
    print(
        f"recall of the LSH search against the exact one (rows flagged by both / by exact; threshold "
        f"{similarity.LSH_JACCARD} Jaccard, {similarity.LSH_PERMUTATIONS} permutations):"
    )
    recall_table = recall_rows()
    recall_table.append(
        [f"synthetic export, first {len(synthetic):,} rows", len(synthetic), *synthetic_recall]
    )
    print(table(["data", "rows", "near duplicates (training)", "leakage (test)"], recall_table))


if __name__ == "__main__":
    main()
