"""The two builds: ``netsim.BUILD`` says which one runs, and a compiled module that no longer
matches its source is refused at import (``netsim._build``), never silently run in place of
an edited file."""

from __future__ import annotations

import importlib.machinery
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import netsim
from netsim import _build

ROOT = Path(__file__).resolve().parents[1]


def test_build_is_named() -> None:
    assert netsim.BUILD in ("pure Python", "compiled (mypyc)")
    out = subprocess.run(
        [sys.executable, "-m", "netsim", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith(f"netsim {netsim.__version__} (")


def _tree(tmp_path: Path) -> Path:
    """A copy of the package's sources, without any compiled module."""
    dest = tmp_path / "netsim"
    shutil.copytree(
        ROOT / "netsim",
        dest,
        ignore=shutil.ignore_patterns("__pycache__", "*.so", "_build_info.py"),
    )
    return tmp_path


def _import(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import netsim; print(netsim.BUILD)"],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("recorded", [None, "0" * 64], ids=["unrecorded", "edited"])
def test_a_stale_compiled_module_is_refused(tmp_path: Path, recorded: str | None) -> None:
    """A compiled ``buff`` beside a ``buff.py`` the build did not record (or recorded with
    another hash): importing netsim fails, naming the module and the fix."""
    tree = _tree(tmp_path)
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    (tree / "netsim" / "skb" / f"buff{suffix}").write_bytes(b"")  # never loaded: refused first
    sources = {} if recorded is None else {"netsim/skb/buff.py": recorded}
    (tree / "netsim" / "_build_info.py").write_text(f"COMPILED = True\nSOURCES = {sources!r}\n")
    done = _import(tree)
    assert done.returncode != 0
    assert "StaleBuildError" in done.stderr
    assert "netsim/skb/buff" in done.stderr
    assert "NETSIM_MYPYC=1" in done.stderr


def test_a_tree_without_compiled_modules_is_pure(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    done = _import(tree)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "pure Python"
    assert not _build._compiled_modules() or netsim.BUILD.startswith("compiled")
