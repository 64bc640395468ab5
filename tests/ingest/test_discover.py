"""ingest.loaders.discover: which files an ingest reads, in a deterministic order."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.loaders import discover


def make_tree(root: Path) -> Path:
    files = [
        "README.md", "b.txt", "notes/a.md", "notes/z.html", "drafts/wip.md", "drafts/deep/older.md",
        "data/photo.png", ".git/config.txt", "notes/.hidden.md", "Makefile",
    ]
    for name in files:
        path = root / "kb" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("text\n")
    return root / "kb"


def relative(files: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in files]


def test_walks_recursively_sorted_skipping_hidden_and_unsupported(tmp_path: Path) -> None:
    kb = make_tree(tmp_path)
    found = discover([kb])
    assert found.errors == []
    assert all(p.is_absolute() for p in found.files)
    assert relative(found.files, kb) == [
        "README.md", "b.txt", "drafts/deep/older.md", "drafts/wip.md", "notes/a.md", "notes/z.html",
    ]


def test_include_and_exclude_globs(tmp_path: Path) -> None:
    kb = make_tree(tmp_path)
    found = discover([str(kb)], include=["*.md"], exclude=["drafts/*"])
    assert relative(found.files, kb) == ["README.md", "notes/a.md"]
    assert relative(discover([kb], include=["notes/*"]).files, kb) == ["notes/a.md", "notes/z.html"]
    pruned = discover([kb], exclude=["drafts", "*.html"])
    assert relative(pruned.files, kb) == ["README.md", "b.txt", "notes/a.md"]


def test_named_files_and_duplicates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kb = make_tree(tmp_path)
    monkeypatch.chdir(kb)
    found = discover(["notes/a.md", kb / "notes", "notes/../notes/a.md", "data/photo.png", "Makefile"])
    assert relative(found.files, kb) == ["notes/a.md", "notes/z.html"]
    reasons = {Path(e.path).name: e.reason for e in found.errors}
    assert "unsupported file type '.png'" in reasons["photo.png"]
    assert "(no extension)" in reasons["Makefile"]


def test_missing_paths_and_broken_symlinks(tmp_path: Path) -> None:
    kb = make_tree(tmp_path)
    (kb / "notes" / "dangling.md").symlink_to(kb / "nowhere.md")
    found = discover([kb, tmp_path / "absent"])
    assert {(Path(e.path).name, e.reason) for e in found.errors} == {
        ("dangling.md", "broken symlink"),
        ("absent", "no such file or directory"),
    }
    assert "notes/a.md" in relative(found.files, kb)
    assert discover([kb / "notes" / "dangling.md"]).errors[0].reason == "broken symlink"


def test_symlink_loops_do_not_hang_and_linked_files_count_once(tmp_path: Path) -> None:
    kb = make_tree(tmp_path)
    (kb / "notes" / "loop").symlink_to(kb, target_is_directory=True)
    (kb / "alias.md").symlink_to(kb / "notes" / "a.md")
    found = discover([kb])
    assert found.errors == []
    names = relative(found.files, kb)
    assert len(names) == len(set(names)) == 6  # alias.md is notes/a.md; the loop adds nothing
    assert "notes/a.md" in names and "alias.md" not in names  # the file itself, not the link


def test_same_order_every_time(tmp_path: Path) -> None:
    kb = make_tree(tmp_path)
    assert discover([kb]).files == discover([kb / "notes", kb]).files
