"""The repository explains itself: the README and docs/ point only at files a clone has."""

import re
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
DOCUMENTS = [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_documents_link_only_to_files_in_the_repository(document):
    text = document.read_text(encoding="utf-8")
    assert "../" not in text  # nothing outside the clone
    links = re.findall(r"\]\(([^)#\s]+)", text)
    mentioned = [path for path in re.findall(r"`([\w./-]+\.(?:md|py|html|js|css|txt|ini))`", text) if "/" in path]
    missing = [
        target for target in links + mentioned
        if "://" not in target and "<" not in target
        and not (document.parent / target).exists() and not (ROOT / target).exists()
    ]
    assert missing == []


def test_the_readme_leads_to_the_design_conventions_and_wechat_notes():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in ("docs/design.md", "docs/conventions.md", "docs/wechat.md"):
        assert f"]({name})" in readme
