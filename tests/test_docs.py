"""Every Python example in docs/*.md, README.md and CONTRIBUTING.md runs as written, and asserts something."""

import re

import pytest

from helpers import REPO_ROOT

PAGES = sorted((REPO_ROOT / "docs").glob("*.md")) + [REPO_ROOT / "README.md", REPO_ROOT / "CONTRIBUTING.md"]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def examples():
    for page in PAGES:
        for i, code in enumerate(BLOCK.findall(page.read_text())):
            yield pytest.param(code, id=f"{page.name}#{i}")


def test_every_docs_page_has_an_example():
    pages = sorted((REPO_ROOT / "docs").glob("*.md"))
    assert pages, "docs/ holds no pages"
    for page in pages:
        assert BLOCK.search(page.read_text()), f"{page.name} has no runnable ```python example"


@pytest.mark.parametrize("code", list(examples()))
def test_docs_example_runs(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "<docs example>", "exec"), {"__name__": "__docs__"})


@pytest.mark.parametrize("code", list(examples()))
def test_docs_example_asserts_what_it_shows(code):
    assert "assert" in code, "a documentation example must assert what it claims (a print checks nothing)"
