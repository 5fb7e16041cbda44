"""`scenario export RUN --push-to-hub`: no token or no Hub stops the command before any work, with one
line and exit code 2; otherwise the adapter (or merged model) goes up with its model card. The Hub is
never contacted: huggingface_hub's calls are replaced by recorders, or pointed at a closed port."""

import json
import shutil
from pathlib import Path

import huggingface_hub
import pytest
from huggingface_hub import HfApi, ModelCard, constants

from tests.test_cli import invoke

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def run(tiny_model: Path, tmp_path: Path) -> Path:
    """The kept support run, re-pointed at the tiny model, with a real LoRA adapter of it."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(shutil.copytree(FIXTURES / "support_run", tmp_path / "run"))
    report = json.loads((folder / "report.json").read_text())
    report["model"]["name"] = report["config"]["model"]["name"] = str(tiny_model)
    (folder / "report.json").write_text(json.dumps(report))
    lora = LoraConfig(r=2, target_modules=["q_proj", "v_proj"])
    get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model), lora).save_pretrained(folder / "adapter")
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(folder / "adapter")
    return folder


@pytest.fixture
def logged_out(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_TOKEN", "")
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.delenv("HF_OIDC_RESOURCE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "hf-home" / "token"))


def test_without_a_token_nothing_is_done(run: Path, tmp_path: Path, logged_out: None) -> None:
    merged = tmp_path / "merged"
    result = invoke("export", str(run), "--merged", str(merged), "--push-to-hub", "acme/support")
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: --push-to-hub: no Hugging Face token. Log in with 'hf auth login' (or set HF_TOKEN) and "
        "run the export again."
    )
    assert not merged.exists()


@pytest.mark.parametrize("offline", [True, False])
def test_without_the_hub_nothing_is_done(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline: bool
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    merged = tmp_path / "merged"
    result = invoke("export", str(run), "--merged", str(merged), "--push-to-hub", "acme/support")
    assert result.exit_code == 2, result.output
    assert "cannot reach the Hugging Face Hub at http://127.0.0.1:9" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not merged.exists()


def test_bad_flags_are_refused(run: Path) -> None:
    bad_id = invoke("export", str(run), "--push-to-hub", "not a repo")
    assert bad_id.exit_code == 2 and "not a Hub repository id" in bad_id.output
    private = invoke("export", str(run), "--merged", "x", "--private")
    assert private.exit_code == 2 and "--private applies to --push-to-hub" in private.output
    stray = invoke("export", str(run), "--merged", "x", "--type", "q8_0")
    assert stray.exit_code == 2 and "--type applies to --gguf" in stray.output


class RecordingHub:
    """Stands in for HfApi's network calls, recording what would have been sent."""

    def __init__(self) -> None:
        self.repos: list[tuple[str, bool]] = []
        self.uploads: list[dict] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        hub = self

        def whoami(self: HfApi, *args: object, **kwargs: object) -> dict:
            return {"name": "jane"}

        def create_repo(self: HfApi, repo_id: str, *, private: bool = False, **kwargs: object) -> str:
            hub.repos.append((repo_id, private))
            return f"https://huggingface.co/{repo_id}"

        def upload_folder(self: HfApi, *, repo_id: str, folder_path: Path, **kwargs: object) -> None:
            folder = Path(folder_path)
            hub.uploads.append(
                {
                    "repo_id": repo_id,
                    "files": sorted(p.name for p in folder.iterdir()),
                    "card": ModelCard.load(folder / "README.md"),
                    "token": self.token,
                    **kwargs,
                }
            )

        for name, method in (
            ("whoami", whoami),
            ("create_repo", create_repo),
            ("upload_folder", upload_folder),
        ):
            monkeypatch.setattr(huggingface_hub.HfApi, name, method)


def test_push_uploads_the_adapter_and_the_merged_model_with_their_cards(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    hub = RecordingHub()
    hub.install(monkeypatch)
    result = invoke("export", str(run), "--push-to-hub", "acme/support-adapter", "--private")
    assert result.exit_code == 0, result.output
    assert f"pushed {run / 'adapter'} to https://huggingface.co/acme/support-adapter as jane" in result.output
    adapter = hub.uploads[0]
    assert hub.repos == [("acme/support-adapter", True)] and adapter["token"] == "hf_test"
    assert {"README.md", "adapter_model.safetensors", "adapter_config.json"} <= set(adapter["files"])
    card = adapter["card"]  # ours, not PEFT's placeholder
    assert "scenario-pack" in card.data.tags and card.data.library_name == "peft"
    assert adapter["commit_message"] == "scenario-pack: adapter of run run"

    merged = tmp_path / "merged"
    result = invoke("export", str(run), "--merged", str(merged), "--push-to-hub", "acme/support")
    assert result.exit_code == 0, result.output
    pushed = hub.uploads[1]
    assert hub.repos[1] == ("acme/support", False)
    assert {"README.md", "model.safetensors", "config.json", "tokenizer.json"} <= set(pushed["files"])
    assert pushed["card"].data.library_name == "transformers"
