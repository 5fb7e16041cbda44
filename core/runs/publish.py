"""Publish a run's tuned model to the Hugging Face Hub with its model card, as the user logged in
with `hf auth login` (or HF_TOKEN) through huggingface_hub.

`connect` runs before any other work: without a token, or when the Hub cannot be reached, the
command stops with one line before a model is loaded or a file is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ScenarioPackError
from ..reporting import model_card
from ..reporting.mix_results import MixResults
from ..reporting.results import RunResults
from .run_folder import RunFolder


@dataclass(frozen=True)
class Hub:
    """A Hub client holding the user's token, and whom that token belongs to."""

    api: Any  # huggingface_hub.HfApi
    user: str


def connect(repo_id: str) -> Hub:
    """The Hub, reached with the user's token; a clear error when the id, token or network is not there."""
    from huggingface_hub import HfApi, get_token
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise ScenarioPackError(
            f"--push-to-hub {repo_id}: not a Hub repository id ({_first_line(exc)}). "
            "Write NAME or ORG/NAME, e.g. acme/support-adapter."
        ) from None
    token = get_token()
    if not token:
        raise ScenarioPackError(
            "--push-to-hub: no Hugging Face token. Log in with 'hf auth login' (or set HF_TOKEN) and run "
            "the export again."
        )
    api = HfApi(token=token)
    try:
        user = api.whoami()["name"]
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        fix = "Log in again with 'hf auth login --force'." if status == 401 else "Try again later."
        raise ScenarioPackError(f"--push-to-hub: the Hub refused: {_first_line(exc)} {fix}") from None
    # Any other failure means no answer: the HTTP client's transport errors (httpx2's, under
    # huggingface_hub 2.4) share no base class with OSError, and offline mode raises ConnectionError.
    except Exception as exc:
        raise ScenarioPackError(
            f"--push-to-hub: cannot reach the Hugging Face Hub at {api.endpoint} ({_first_line(exc)}). "
            "Check the network connection (HF_HUB_OFFLINE must be unset) and run the export again."
        ) from None
    return Hub(api, user)


def push(
    hub: Hub,
    run: RunFolder,
    report: RunResults | MixResults,
    repo_id: str,
    private: bool,
    merged: Path | None = None,
) -> str:
    """Upload the run's tuned-model folder, or the merged export `merged`, with its card; return the
    repository's URL. The adapter's card is rendered again first, so it matches report.json."""
    folder = merged or run.tuned()
    if merged is None:
        model_card.write(report, run.card())
    url = hub.api.create_repo(repo_id, private=private, exist_ok=True)
    what = "merged model" if merged else "adapter" if report.training.method != "full" else "fine-tune"
    hub.api.upload_folder(
        repo_id=repo_id,
        folder_path=folder,
        commit_message=f"scenario-pack: {what} of run {report.run_id}",
        ignore_patterns=[".*"],  # temporary files of an interrupted write
    )
    return str(url)


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
