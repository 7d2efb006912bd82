"""The layers hold: `core` (what every app needs) and `wechat` (the only code that speaks WeChat)
import no domain app, and domain modules import no API code. Read from the source, so an import
hidden inside a function counts too."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOMAIN_APPS = {"catalog", "customers", "reps", "orders", "logistics", "notifications", "aftersales", "complaints", "usuals",
               "crm", "coupons", "campaigns", "dashboard", "demo"}
API_MODULES = {"rest_framework", "drf_spectacular"}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def modules_of(package: str, *, skip=("migrations",)) -> list[Path]:
    return [path for path in sorted((ROOT / package).rglob("*.py")) if not set(path.parts) & set(skip)]


@pytest.mark.parametrize("package", ["core", "wechat"])
def test_a_lower_layer_imports_no_domain_app(package):
    offending = {str(path.relative_to(ROOT)): sorted(imported_packages(path) & DOMAIN_APPS)
                 for path in modules_of(package)}
    assert {path: apps for path, apps in offending.items() if apps} == {}


# The domain's own modules: rules, reads and writes. Views, API, serializers, admin, schema and
# DRF authentication classes are interface code and may use DRF.
DOMAIN_MODULE_NAMES = {"services", "selectors", "rules", "pricing", "pagination", "models", "tasks", "churn",
                       "checkout", "checkout_rules", "checkout_store", "checkout_conflicts", "payments", "refunds", "reorder",
                       "transitions", "packing", "purchasing", "receiving", "delivery", "dispatch", "routing",
                       "autotags", "segments", "welcome", "lost", "reminders", "gmv"}


def test_domain_modules_import_no_api_code():
    offending = {}
    for app in sorted(DOMAIN_APPS - {"demo"}):
        for path in modules_of(app):
            if "views" in path.parts:
                continue
            if path.stem in DOMAIN_MODULE_NAMES or path.parent.name == "services":
                api = imported_packages(path) & API_MODULES
                names = {node.module for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                         if isinstance(node, ast.ImportFrom) and node.module
                         and (node.level > 0 or node.module.split(".")[0] in DOMAIN_APPS)
                         and node.module.split(".")[-1] in {"serializers", "api", "views"}}
                if api or names:
                    offending[str(path.relative_to(ROOT))] = sorted(api | names)
    assert offending == {}


def test_the_check_sees_an_import():
    assert "catalog" in imported_packages(ROOT / "demo" / "catalog.py")
