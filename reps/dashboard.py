"""The admin's oversight of reps: per rep and per day, entries by scene, new customers, first
orders and GMV of their customers, with hints that a rep is not out visiting.

A fixed number of queries whatever the number of reps or days (the selectors aggregate in SQL);
the rest is arithmetic on their rows.
"""

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from django import forms
from django.db.models import Q
from django.template.response import TemplateResponse
from django.utils import timezone

from . import selectors
from .models import Rep, Scene

DEFAULT_DAYS = 14
MAX_DAYS = 92
SCENE_KINDS = [kind for kind, _ in Scene.CHOICES]


class DashboardForm(forms.Form):
    day_from = forms.DateField(label="开始日期", required=False,
                               widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    day_to = forms.DateField(label="结束日期", required=False,
                             widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    rep = forms.ModelChoiceField(label="业务员", required=False, queryset=Rep.objects.order_by("-is_active", "name", "id"),
                                 empty_label="全部业务员")

    def clean(self):
        data = super().clean()
        today = timezone.localdate()
        day_to = data.get("day_to") or today
        day_from = data.get("day_from") or day_to - timedelta(days=DEFAULT_DAYS - 1)
        if day_from > day_to:
            raise forms.ValidationError("开始日期不能晚于结束日期")
        if (day_to - day_from).days + 1 > MAX_DAYS:
            raise forms.ValidationError(f"日期范围最多 {MAX_DAYS} 天")
        data["day_from"], data["day_to"] = day_from, day_to
        return data


def _empty_figures() -> dict:
    return {"entries": dict.fromkeys(SCENE_KINDS, 0), "entries_total": 0, "new_customers": 0, "first_orders": 0,
            "orders": 0, "gmv": Decimal("0.00"), "churned": 0, "won_back": 0, "wecom_added": 0, "wecom_removed": 0}


def _add(target: dict, row: dict) -> None:
    for kind in SCENE_KINDS:
        target["entries"][kind] += row["entries"][kind]
        target["entries_total"] += row["entries"][kind]
    target["new_customers"] += row["new_customers"]
    target["first_orders"] += row["first_orders"]
    target["orders"] += row["orders"]
    target["gmv"] += Decimal(row["gmv"] or 0)
    target["churned"] += row.get("churned", 0)
    target["won_back"] += row.get("won_back", 0)
    target["wecom_added"] += row.get("wecom_added", 0)
    target["wecom_removed"] += row.get("wecom_removed", 0)


def _days(day_from: date, day_to: date) -> list[date]:
    return [day_from + timedelta(days=n) for n in range((day_to - day_from).days + 1)]


def rep_dashboard(*, day_from: date, day_to: date, rep: Rep | None = None) -> dict:
    """Everything the dashboard shows, for all reps or one."""
    all_stats = stats = selectors.rep_daily_stats(day_from=day_from, day_to=day_to)
    if rep is not None:
        stats = [row for row in stats if row["rep_id"] == rep.pk]
        reps = [rep]
    else:
        # Every rep in service (a silent one is exactly who to look at), and any who left but
        # still had activity in the period.
        with_activity = {row["rep_id"] for row in stats}
        reps = list(Rep.objects.filter(Q(is_active=True) | Q(pk__in=with_activity))
                    .only("id", "name", "key", "is_active", "created_at")
                    .order_by("name", "id"))
    flags = selectors.rep_flags(day_from=day_from, day_to=day_to, reps=[r for r in reps if r.is_active],
                                stats=all_stats)

    per_rep = {r.pk: {"rep": r, **_empty_figures(), "no_scan_days": [], "mostly_forwarded": "",
                      "sent_without_wecom": []} for r in reps}
    per_day = {day: {"day": day, **_empty_figures()} for day in _days(day_from, day_to)}
    for row in stats:
        if row["rep_id"] in per_rep:
            _add(per_rep[row["rep_id"]], row)
        if row["day"] in per_day:
            _add(per_day[row["day"]], row)
    flagged = defaultdict(list)
    for flag in flags:
        figures = per_rep.get(flag["rep_id"])
        if figures is None:
            continue
        if flag["kind"] == "no_in_person_scans":
            # A day before the rep joined is not a day they failed to visit anyone.
            if flag["day"] < timezone.localdate(figures["rep"].created_at):
                continue
            figures["no_scan_days"].append(flag["day"])
        else:
            figures["mostly_forwarded"] = flag["message"]
        flagged[flag["rep_id"]].append(flag)
    for item in selectors.sent_without_wecom(day_from=day_from, day_to=day_to, reps=reps):
        figures = per_rep.get(item["rep_id"])
        if figures is not None:
            figures["sent_without_wecom"].append(item)
            if len(figures["sent_without_wecom"]) == 1:
                flagged[item["rep_id"]].append({"kind": "sent_without_wecom"})
    rep_rows = sorted(per_rep.values(), key=lambda r: (-r["gmv"], -r["entries_total"], r["rep"].name, r["rep"].pk))
    day_rows = [per_day[day] for day in sorted(per_day)]
    totals = _empty_figures()
    for row in day_rows:
        _add(totals, row)
    return {
        "rep_rows": rep_rows,
        "day_rows": day_rows,
        "totals": totals,
        "flag_rows": [per_rep[rep_id] for rep_id in sorted(flagged, key=lambda pk: per_rep[pk]["rep"].name)],
        "flag_count": sum(len(items) for items in flagged.values()),
        "chart": {
            "labels": [f"{row['day']:%m-%d}" for row in day_rows],
            "scenes": [{"kind": kind, "label": label, "data": [row["entries"][kind] for row in day_rows]}
                       for kind, label in Scene.CHOICES],
            "new_customers": [row["new_customers"] for row in day_rows],
            "first_orders": [row["first_orders"] for row in day_rows],
            "gmv": [str(row["gmv"].quantize(Decimal("0.01"))) for row in day_rows],
        },
    }


def rep_dashboard_view(request, *, model_admin):
    form = DashboardForm(request.GET or None)
    if form.is_bound and form.is_valid():
        day_from, day_to, rep = form.cleaned_data["day_from"], form.cleaned_data["day_to"], form.cleaned_data["rep"]
    else:
        day_to = timezone.localdate()
        day_from, rep = day_to - timedelta(days=DEFAULT_DAYS - 1), None
        if not form.is_bound:
            form = DashboardForm(initial={"day_from": day_from, "day_to": day_to})
    data = rep_dashboard(day_from=day_from, day_to=day_to, rep=rep)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": "业务员看板",
        "form": form,
        "day_from": day_from,
        "day_to": day_to,
        "selected_rep": rep,
        "scene_choices": Scene.CHOICES,
        "scene_totals": [(kind, label, data["totals"]["entries"][kind]) for kind, label in Scene.CHOICES],
        "quick": {str(n): timezone.localdate() - timedelta(days=n - 1) for n in (7, 14, 30)},
        **data,
    }
    return TemplateResponse(request, "admin/reps/dashboard.html", context)
