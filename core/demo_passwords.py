"""The demo seeder's passwords. They are published (README, `make run`, demo_links), so under
ENVIRONMENT=production they log nobody in and cannot be chosen (core/auth.py)."""

ADMIN_PASSWORD = "admin12345"
REP_PASSWORD = "rep12345"
CLERK_PASSWORD = "clerk12345"
DRIVER_PASSWORD = "driver12345"

DEMO_PASSWORDS = frozenset({ADMIN_PASSWORD, REP_PASSWORD, CLERK_PASSWORD, DRIVER_PASSWORD})
