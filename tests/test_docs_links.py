"""The README's promises a newcomer relies on: its first code block is exactly the two set-up
commands, every relative link in the README and docs/ points at a file (and heading) of the
repository, and nothing cites a path outside it."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(doc: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", doc.read_text(encoding="utf-8"), flags=re.S)
    return {_anchor(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, flags=re.M)}


def test_readme_first_code_block_is_the_two_set_up_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```\w*\n(.*?)```", text, flags=re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands == ["make run", "make test"]


def test_every_relative_link_resolves():
    broken = []
    for doc in DOCS:
        for target in LINK.findall(doc.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            dest = (doc.parent / path).resolve() if path else doc
            if not dest.is_file():
                broken.append(f"{doc.relative_to(ROOT)}: {target}: no such file")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                broken.append(f"{doc.relative_to(ROOT)}: {target}: no such heading")
    assert not broken, "\n".join(broken)


SOURCES = ("dnn", "platform_models", "traces", "envs", "controllers", "hw_agents", "dynscale",
           "benchmarks", "tests", "docs")
# Notes that live beside the repository, not in it: cite the public sources they name instead.
OUTSIDE = ("/work/", "board-facts", "research/hardware.md", "research/paper.md")


def test_no_paths_outside_the_repository():
    files = [ROOT / "README.md", ROOT / "Makefile", ROOT / "pyproject.toml"]
    for folder in SOURCES:
        files += [p for p in (ROOT / folder).rglob("*") if p.suffix in {".py", ".md", ".yaml", ".yml"}]
    this = Path(__file__).resolve()
    offenders = [
        f"{path.relative_to(ROOT)}: {needle}"
        for path in files
        if path.resolve() != this
        for needle in OUTSIDE
        if needle in path.read_text(encoding="utf-8")
    ]
    assert not offenders, "\n".join(offenders)
