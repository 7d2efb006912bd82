import os

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from customers.tokens import visitor_token_make

from .factories import VisitorFactory

# Playwright's sync API runs an event loop in the test thread; the ORM calls made by
# fixtures beside it are synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()  # tests own their Redis database number (settings_test), never the default one
    from catalog.listing import forget_local_pages

    from usuals.list_read import forget_heads

    forget_local_pages()  # the catalogue pages this process keeps (catalog.listing), as a new worker
    forget_heads()  # and 我的常购's product rows (usuals.list_read)
    yield


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def visitor(db):
    return VisitorFactory()


@pytest.fixture
def visitor_client(visitor):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Visitor {visitor_token_make(visitor.pk)}")
    return client
