import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seafood_b2b.settings")
application = get_asgi_application()

# The web process runs no system checks: it refuses to start here (seafood_b2b/production.py).
from seafood_b2b.production import refuse_unsafe_production  # noqa: E402

refuse_unsafe_production()
