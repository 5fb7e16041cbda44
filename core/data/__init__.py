"""Rows in, rows checked: reading data files, importers, redaction, the split, near copies and the
validation stage every command runs before a model is loaded."""
