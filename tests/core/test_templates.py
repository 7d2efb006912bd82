"""What every page shows: no template comment leaks into the HTML, and the site has an icon."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders

TEMPLATES = Path(settings.BASE_DIR) / "templates"


@pytest.mark.parametrize("url", ["/rep/login/", "/ops/login/"])
def test_login_pages_render_without_raw_template_comments(client, db, url):
    response = client.get(url)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="login-submit"' in html
    assert "{#" not in html and "#}" not in html and "{%" not in html
    assert "error_class" not in html  # the include's own comment
    assert 'rel="icon"' in html


def test_no_template_has_a_multi_line_short_comment():
    # {# … #} ends at the end of its line: spread over two lines, Django prints it as text.
    offenders = [
        f"{path.relative_to(TEMPLATES)}:{number}"
        for path in TEMPLATES.rglob("*.html")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if re.search(r"\{#(?!.*#\})", line)
    ]
    assert offenders == []


def test_favicon_is_served_and_every_page_points_at_it(client, admin_client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"] == settings.STATIC_URL + "img/favicon.ico"
    assert finders.find("img/favicon.ico") and finders.find("img/favicon.svg")
    for page in (client.get("/shop/"), client.get("/admin/login/"), admin_client.get("/admin/")):
        assert page.status_code == 200
        assert 'rel="icon"' in page.content.decode()
