"""Getting the code out of a model's answer, fenced or not."""

from __future__ import annotations

import ast
import re

FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


def parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def code_of(answer: str) -> str:
    """The answer's code: the first fenced block that parses (else the longest fenced block); without
    fences, the longest run of whole lines that parses, so prose before or after the code is dropped."""
    blocks = [
        body.strip("\n") for lang, body in FENCE.findall(answer) if lang.lower() in ("", "python", "py")
    ]
    if blocks:
        return next((b for b in blocks if parses(b)), max(blocks, key=len))
    lines = answer.strip("\n").splitlines()
    for size in range(len(lines), 0, -1):  # longest span first; answers are short
        for start in range(len(lines) - size + 1):
            span = "\n".join(lines[start : start + size])
            if span.strip() and parses(span) and _looks_like_code(span):
                return span
    return answer.strip()


def _looks_like_code(span: str) -> bool:
    """A lone sentence can parse as a Python expression; code has a def, class, import or assignment."""
    try:
        tree = ast.parse(span)
    except SyntaxError:
        return False
    return any(not isinstance(node, ast.Expr) for node in tree.body)
