"""The repositories here are importer inputs, not part of this suite: pytest must not collect their tests."""

collect_ignore_glob = ["*"]
