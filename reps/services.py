"""Reps: entries through their codes, first-touch attribution, visit notes, handovers."""

import re
from decimal import Decimal

from django.db import IntegrityError, transaction

from django.utils import timezone

from core import geo
from core.errors import NotFound, ValidationFailed
from customers.models import Customer, Visitor

from core.tasks import enqueue_on_commit

from . import figures
from .models import EntryEvent, Handover, HandoverItem, Rep, Scene, VisitNote
from .wecom_transfer import wecom_transfers_plan

# WeChat's unlimited mini-program code: ≤32 visible characters from this set (no %).
SCENE_ALLOWED = re.compile(r"^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}\Z")
LAUNCH_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")


def scene_validate(scene: str) -> str:
    if not SCENE_ALLOWED.match(scene or ""):
        raise ValidationFailed("scene 参数须为 1-32 个字母、数字或 !#$&'()*+,/:;=?@-._~", code="invalid_scene")
    return scene


def scene_rep_key(scene: str) -> str | None:
    """The rep key inside a scene such as "r=7F3K" (other k=v pairs may follow, joined by &)."""
    for part in scene.split("&"):
        name, _, value = part.partition("=")
        if name == "r" and value:
            return value.upper()
    return None


def rep_scene(rep: Rep) -> str:
    scene = f"r={rep.key}"
    return scene_validate(scene)


def entry_record(*, visitor: Visitor, scene: str = "", launch_scene: int | None = None, launch_id: str = "",
                 first_login: bool = False) -> EntryEvent:
    """Record one opening of the mini program and credit first touch to the rep whose code it was.

    First touch wins: a visitor already brought in by one rep is never re-credited to another,
    and a customer who already has a rep keeps them. Repeating the same launch (a retry with the
    same launch_id) records nothing new.
    """
    if scene:
        scene_validate(scene)
    if launch_scene is not None and (isinstance(launch_scene, bool) or not 1000 <= int(launch_scene) <= 9999):
        raise ValidationFailed("场景值无效", code="invalid_launch_scene")
    if launch_id and not LAUNCH_ID.match(launch_id):
        raise ValidationFailed("launch_id 无效", code="invalid_launch_id")
    if launch_id:
        existing = EntryEvent.objects.filter(visitor=visitor, launch_id=launch_id).first()
        if existing:
            return existing

    key = scene_rep_key(scene) if scene else None
    rep = Rep.objects.filter(key=key).first() if key else None
    now = timezone.now()
    with transaction.atomic():
        locked = Visitor.objects.select_for_update(of=("self",)).select_related("customer").get(pk=visitor.pk)
        customer = locked.customer
        had_entries = EntryEvent.objects.filter(visitor=locked).exists()
        if customer is not None and rep is not None:
            visit_kind = EntryEvent.Visit.CUSTOMER_RESCAN
        elif first_login or (not had_entries and customer is None):
            visit_kind = EntryEvent.Visit.FIRST
        else:
            visit_kind = EntryEvent.Visit.RETURN
        credited = False
        if rep is not None and rep.is_active and locked.first_rep_id is None and (
            customer is None or customer.rep_id is None
        ):
            locked.first_rep = rep
            locked.first_touch_at = now
            locked.save(update_fields=["first_rep", "first_touch_at", "updated_at"])
            credited = True
            if customer is not None:  # a restaurant that came in on its own, now visited by a rep
                Customer.objects.filter(pk=customer.pk, rep__isnull=True).update(
                    rep=rep, acquired_by=rep, acquired_at=now, updated_at=now)
                figures.changed(rep.pk)  # an .update(): no signal (reps.figures)
        try:
            with transaction.atomic():
                entry = EntryEvent.objects.create(
                    visitor=locked, customer=customer, rep=rep, scene_code=launch_scene,
                    scene_kind=Scene.classify(launch_scene), visit_kind=visit_kind, scene=scene or "",
                    launch_id=launch_id, credited=credited,
                )
        except IntegrityError:  # the same launch posted twice at once
            return EntryEvent.objects.get(visitor=visitor, launch_id=launch_id)
    visitor.first_rep_id, visitor.first_touch_at = locked.first_rep_id, locked.first_touch_at
    return entry


def _customer_of_rep(*, rep: Rep, customer_id: int) -> Customer:
    customer = Customer.objects.filter(pk=customer_id, rep=rep).first()
    if customer is None:
        raise NotFound("客户不存在或不归您负责", code="customer_not_found")
    return customer


def visit_note_add(*, rep: Rep, customer_id: int, note: str, latitude=None, longitude=None,
                   coordinate_system: str = geo.GCJ02) -> VisitNote:
    """A visit note, with where the rep stood if the phone said: stored in GCJ-02 like every pin,
    converted from `coordinate_system` (a browser's navigator.geolocation answers in WGS-84)."""
    text = (note or "").strip()
    datum = geo.datum_param(coordinate_system)
    if not 1 <= len(text) <= 500:
        raise ValidationFailed("拜访记录须为 1-500 个字", code="invalid_note")
    customer = _customer_of_rep(rep=rep, customer_id=customer_id)
    lat = lng = None
    if latitude not in (None, "") and longitude not in (None, ""):
        try:
            lat, lng = Decimal(str(latitude)).quantize(Decimal("0.000001")), Decimal(str(longitude)).quantize(
                Decimal("0.000001"))
        except Exception:
            raise ValidationFailed("位置无效", code="invalid_location")
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):
            raise ValidationFailed("位置无效", code="invalid_location")
        if datum != geo.GCJ02:
            lat, lng = (Decimal(repr(v)).quantize(Decimal("0.000001"))
                        for v in geo.to_gcj02(float(lat), float(lng), datum=datum))
    return VisitNote.objects.create(rep=rep, customer=customer, note=text, latitude=lat, longitude=lng)


def customers_handover(*, from_rep: Rep, to_rep: Rep, customer_ids: list[int] | None = None, reason: str = "",
                       revoke_access: bool = False, performed_by=None) -> Handover:
    """Move all (or the given) customers of one rep to another, in one step, keeping history.

    Who acquired each customer (`acquired_by`) never changes. With `revoke_access` the leaving
    rep is deactivated and their login stops working on the next request. The leaving rep's WeCom
    customers are transferred to the taker (reps.wecom_transfer; resigned endpoints when the
    leaving rep is deactivated).
    """
    if from_rep.pk == to_rep.pk:
        raise ValidationFailed("移交人和接收人不能相同", code="same_rep")
    if not to_rep.is_active:
        raise ValidationFailed("接收人已停用", code="inactive_rep")
    with transaction.atomic():
        reps = {r.pk: r for r in Rep.objects.select_for_update().filter(pk__in=[from_rep.pk, to_rep.pk]).order_by("pk")}
        customers = Customer.objects.select_for_update().filter(rep=from_rep).order_by("pk")
        if customer_ids is not None:
            customers = customers.filter(pk__in=customer_ids)
        ids = list(customers.values_list("pk", flat=True))
        if customer_ids is not None and len(ids) != len(set(customer_ids)):
            raise ValidationFailed("部分客户不属于移交人", code="customers_not_owned")
        handover = Handover.objects.create(from_rep=from_rep, to_rep=to_rep, customer_count=len(ids),
                                           reason=reason[:200], revoked_access=revoke_access,
                                           performed_by=performed_by)
        HandoverItem.objects.bulk_create(HandoverItem(handover=handover, customer_id=pk) for pk in ids)
        Customer.objects.filter(pk__in=ids).update(rep=to_rep, updated_at=timezone.now())
        figures.changed(from_rep.pk, to_rep.pk)  # an .update(): no signal (reps.figures)
        # Their WeCom customers move too (sent to WeCom after commit; README "WeCom transfer").
        if wecom_transfers_plan(handover=handover, from_rep=reps[from_rep.pk], to_rep=reps[to_rep.pk],
                                customer_ids=None if customer_ids is None else ids,
                                resigned=revoke_access or not reps[from_rep.pk].is_active):
            from .tasks import wecom_transfers_submit_task

            enqueue_on_commit(wecom_transfers_submit_task, handover.pk)
        if revoke_access:
            leaving = reps[from_rep.pk]
            leaving.is_active = False
            leaving.save(update_fields=["is_active", "updated_at"])
            if leaving.user_id:
                type(leaving.user).objects.filter(pk=leaving.user_id).update(is_active=False)
    return handover


