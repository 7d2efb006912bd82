"""The tests' authentication backends (seafood_b2b/settings_test.py)."""

from axes.backends import AxesStandaloneBackend


class AxesStandaloneBackendForTests(AxesStandaloneBackend):
    """axes' backend, letting through the one call that carries no request: the test client's
    login(), which calls authenticate(**credentials). Every request (admin, /rep/login/,
    /ops/login/) meets the lockout exactly as in production, where every login passes it."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None  # no opinion: the next backend checks the password
        return super().authenticate(request, username=username, password=password, **kwargs)
