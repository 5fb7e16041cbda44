"""A run writes only into its own folder: a user's files in --output are never replaced or deleted."""

import errno
import hashlib
import os
from pathlib import Path

import pytest

from scenario_pack.core.errors import ConfigError
from scenario_pack.core.runs import run_folder
from tests.test_cli import run_tiny


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def users_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "mine"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "train.jsonl").write_text('{"ticket": "mine"}\n' * 450)
    (folder / "notes.txt").write_text("do not touch")
    return folder


def test_a_folder_of_the_users_files_is_refused_and_left_as_it_was(
    tiny_model: Path, support_dir: Path, tmp_path: Path
) -> None:
    folder = users_folder(tmp_path)
    before = snapshot(folder)
    result = run_tiny(tiny_model, support_dir / "tickets.jsonl", folder, "--limit", "40")
    assert result.exit_code == 2
    assert "already holds files that are not a scenario-pack run" in result.output
    assert "Traceback" not in result.output
    # --overwrite writes beside the user's files, never over them: data/ is a name a run writes
    result = run_tiny(tiny_model, support_dir / "tickets.jsonl", folder, "--limit", "40", "--overwrite")
    assert result.exit_code == 2 and "data there was not written by scenario-pack" in result.output
    assert snapshot(folder) == before


def test_overwrite_writes_beside_unrelated_files(tiny_model: Path, support_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "notes.txt").write_text("do not touch")
    result = run_tiny(tiny_model, support_dir / "tickets.jsonl", folder, "--limit", "40", "--overwrite")
    assert result.exit_code == 0, result.output
    assert (folder / "report.json").exists() and (folder / "notes.txt").read_text() == "do not touch"


def test_an_earlier_run_is_resumed_or_replaced_only_when_asked(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run_folder.claim(run, resume=False, overwrite=False)
    (run / "stages").mkdir()
    (run / "stages" / "base_outputs.json").write_text("[]")
    (run / "keep.txt").write_text("the user's")
    with pytest.raises(ConfigError, match="holds an earlier run. Add --resume to continue it, --overwrite"):
        run_folder.claim(run, resume=False, overwrite=False)
    run_folder.claim(run, resume=True, overwrite=False)
    assert (run / "stages" / "base_outputs.json").exists()
    run_folder.claim(run, resume=False, overwrite=True)
    assert not (run / "stages").exists() and (run / "keep.txt").read_text() == "the user's"


def test_resume_needs_a_folder_a_run_made(tmp_path: Path) -> None:
    folder = users_folder(tmp_path)
    for target in (folder, tmp_path / "missing"):
        with pytest.raises(ConfigError, match="holds no scenario-pack run"):
            run_folder.claim(target, resume=True, overwrite=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        run_folder.claim(tmp_path / "file", resume=False, overwrite=True)


def test_an_empty_folder_is_taken(tmp_path: Path) -> None:
    run_folder.claim(tmp_path, resume=False, overwrite=False)
    assert (tmp_path / run_folder.MARKER).is_file()


def test_output_files_get_ordinary_permissions(tmp_path: Path) -> None:
    from scenario_pack.core import atomic

    atomic.write_text(tmp_path / "report.md", "# report")
    mask = os.umask(0o022)
    os.umask(mask)
    assert (tmp_path / "report.md").stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_full_disk_is_one_clear_error_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scenario_pack.core import atomic

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)
    target = tmp_path / "rows.jsonl"
    with pytest.raises(atomic.DiskFullError, match="no space left on the disk .* nothing was written there"):
        atomic.write_jsonl(target, [{"ticket": "x"}])
    assert list(tmp_path.iterdir()) == []


def test_overwrite_knows_every_entry_the_layout_names() -> None:
    """--overwrite removes only ENTRIES: a path of the layout outside them would survive a rerun."""
    layout = run_folder.RunFolder(Path("/run"))
    named = [
        layout.config,
        layout.split("train"),
        layout.answers("base"),
        layout.context_answers(),
        layout.tuned(),
        layout.tuned(layout.group_tuned("type", "blog post")),
        layout.train_result(),
        layout.train_log(),
        layout.rows_seen("adapter", 1),
        layout.checkpoints("trial-0"),
        layout.sweep_choice,
        layout.sweep_db,
        layout.best_config,
        layout.predictions,
        layout.report_json,
        layout.report_md,
        layout.report_html,
        layout.loss_png,
    ]
    assert {path.relative_to("/run").parts[0] for path in named} <= set(run_folder.ENTRIES)
    assert layout.group_tuned("type", "blog post") == "adapters/type=blog_post"
