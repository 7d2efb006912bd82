"""Under /api/, the answers Django gives before any view runs (no such path, a refused CSRF check)
are in the API's error shape too; the rest of the site keeps Django's pages."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_an_unknown_api_path_answers_404_in_the_error_shape(client):
    for path in ("/api/v1/nothing-here", "/api/v1/cart/lines/-1"):  # -1: the <int:> converter refuses it
        response = client.get(path)
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert response.json()["error"]["code"] == "not_found"


def test_a_refused_csrf_check_under_api_answers_403_in_the_error_shape():
    browser = Client(enforce_csrf_checks=True)
    response = browser.post("/api/v1/rep/feed/poll")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"


def test_pages_outside_the_api_keep_djangos_own_error_pages(client):
    response = client.get("/shop/nothing-here/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
