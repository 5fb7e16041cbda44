"""Recipes that produce a run folder or use one: one run, run-mix, sweep, chat/generate and export;
how a run starts (validation, then its folder), and the run folder's layout and ownership."""
