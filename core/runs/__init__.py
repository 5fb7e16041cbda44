"""Commands that produce a run folder or use one: one run, run-mix, sweep, chat/generate and export,
and who may write into a run folder."""
