"""The company dashboard in admin (公司经营看板) and its CSV exports. Staff holding
`dashboard.view_company_dashboard` only; others get 403, anyone not signed in the admin login."""

from decimal import Decimal
from urllib.parse import quote

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from . import selectors
from .forms import DEFAULT_DAYS, PeriodForm, default_period
from .tables import BY_KEY, TABLES, table_csv, table_filename

PERMISSION = "dashboard.view_company_dashboard"


def _allowed(request):
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied


def _period(request):
    """(period, form, error): the asked range, or the default one and the error that refused it."""
    form = PeriodForm(request.GET or None)
    if form.is_bound and form.is_valid():
        return form.cleaned_data["period"], form, ""
    period = default_period()
    if not form.is_bound:
        form = PeriodForm(initial={"start": period.first, "end": period.last})
    return period, form, form.error_text() if form.is_bound else ""


def _chart(figures: dict) -> dict:
    return {
        "days": [f"{row['day']:%m-%d}" for row in figures["daily"]],
        "orders": [row["orders"] for row in figures["daily"]],
        "gmv": [str(row["gmv"]) for row in figures["daily"]],
        "months": [f"{row['month']:%Y-%m}" for row in figures["monthly"]],
        "month_customers": [row["customers"] for row in figures["monthly"]],
        "new": [row["new"] for row in figures["flow"]],
        "churned": [row["churned"] for row in figures["flow"]],
        "reactivated": [row["reactivated"] for row in figures["flow"]],
        "categories": [row["name"] for row in figures["categories"]],
        "category_amounts": [str(row["amount"]) for row in figures["categories"]],
    }


def company_dashboard_view(request):
    _allowed(request)
    period, form, error = _period(request)
    figures = selectors.company_dashboard(period)
    query = f"start={period.first:%Y-%m-%d}&end={period.last:%Y-%m-%d}"
    exports = {table.key: f"{reverse('dashboard:company-csv', args=[table.key])}?{query}" for table in TABLES}
    context = {
        **admin.site.each_context(request),
        "title": "公司经营看板",
        "form": form,
        "error": error,
        "default_days": DEFAULT_DAYS,
        "period": period,
        "exports": exports,
        "tables": [{"table": table, "export": exports[table.key],
                    "rows": [[(cell, isinstance(cell, (int, Decimal))) for cell in row] for row in table.rows(figures)]}
                   for table in TABLES],
        "chart": _chart(figures),
        **figures,
    }
    return TemplateResponse(request, "admin/dashboard/company.html", context)


def company_dashboard_csv(request, table):
    _allowed(request)
    spec = BY_KEY.get(table)
    if spec is None:
        raise Http404("没有这个表格")
    form = PeriodForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return HttpResponse(f"无法导出：{form.error_text()}", status=400, content_type="text/plain; charset=utf-8")
    period = form.cleaned_data["period"] if form.is_bound else default_period()
    figures = selectors.company_dashboard(period)
    ascii_name, chinese_name = table_filename(spec, period)
    response = HttpResponse(table_csv(spec, figures).encode("utf-8"), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(chinese_name)}"
    return response
