"""docs/tutorial.md stays true: its ``python`` blocks run in order in one namespace, and what
each prints must equal the ``text`` block that follows it.

After a deliberate change of netsim's output, regenerate the expected blocks with
``python tests/test_tutorial.py --update`` and read the diff before committing it.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import re
import sys
from pathlib import Path

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial.md"
_BLOCK = re.compile(r"```(python|text)\n(.*?)```", re.S)


def _pairs(text: str) -> list[tuple[str, str | None, tuple[int, int] | None]]:
    """Each python block with the text block right after it (if any) and that block's span
    in the file."""
    blocks = list(_BLOCK.finditer(text))
    pairs: list[tuple[str, str | None, tuple[int, int] | None]] = []
    for i, block in enumerate(blocks):
        if block.group(1) != "python":
            continue
        nxt = blocks[i + 1] if i + 1 < len(blocks) else None
        if nxt is not None and nxt.group(1) == "text":
            between = text[block.end() : nxt.start()]
            if between.strip() == "":
                pairs.append((block.group(2), nxt.group(2), nxt.span(2)))
                continue
        pairs.append((block.group(2), None, None))
    return pairs


def _run(text: str) -> list[tuple[str, str | None, str, tuple[int, int] | None]]:
    """Run every python block in order; ``(code, expected, printed, span)`` per block."""
    namespace: dict[str, object] = {"__name__": "tutorial"}
    results = []
    for n, (code, expected, span) in enumerate(_pairs(text)):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"docs/tutorial.md python block {n}", "exec"), namespace)
        results.append((code, expected, out.getvalue(), span))
    return results


def test_tutorial_output_is_what_the_page_shows() -> None:
    text = TUTORIAL.read_text()
    results = _run(text)
    assert len(results) >= 11  # the helpers, then ten steps
    problems = []
    for n, (_, expected, printed, _) in enumerate(results):
        if expected is None:
            if printed:
                problems.append(f"block {n} prints but has no text block after it")
            continue
        if printed != expected:
            diff = difflib.unified_diff(
                expected.splitlines(), printed.splitlines(), "tutorial.md", "netsim", lineterm=""
            )
            problems.append(f"block {n}:\n" + "\n".join(diff))
    assert not problems, "\n\n".join(problems) + (
        "\n\n(regenerate with: python tests/test_tutorial.py --update)"
    )


def _update() -> None:
    text = TUTORIAL.read_text()
    results = _run(text)
    out = []
    last = 0
    for _, _, printed, span in results:
        if span is None:
            continue
        out.append(text[last : span[0]])
        out.append(printed)
        last = span[1]
    out.append(text[last:])
    TUTORIAL.write_text("".join(out))
    print(f"updated {TUTORIAL}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/test_tutorial.py --update")
    _update()
