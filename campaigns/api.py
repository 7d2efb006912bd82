"""The campaigns API: the rep's tasks on the assistant (only their own customers), and the
results per campaign for staff."""

from datetime import date, datetime, time, timedelta

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import PermissionDenied, ValidationFailed
from core.schema import STAFF_SESSION, errors
from reps.api import RepApiView

from . import selectors, services
from .results import campaign_results
from .serializers import ResultsOutput, TaskSentOutput, TasksOutput

MAX_IDS = 100
MAX_DAYS = 366


class RepCampaignTasksApi(RepApiView):
    @extend_schema(responses={200: TasksOutput, **errors(403)}, operation_id="v1_rep_campaign_tasks",
                   summary="我的群发任务：活动里我的客户，附可直接发送的消息")
    def get(self, request):
        return Response(TasksOutput({"campaigns": selectors.rep_campaign_tasks(rep=self.rep(request))}).data)


class RepCampaignTaskSentApi(RepApiView):
    @extend_schema(request=None, responses={200: TaskSentOutput, **errors(403)}, operation_id="v1_rep_campaign_task_sent",
                   summary="标记已发送（仅限自己的客户；重复标记不变）")
    def post(self, request, task_id: int):
        row = services.recipient_mark_sent(rep=self.rep(request), recipient_id=task_id)
        return Response({"id": row.pk, "status": row.status, "sent_at": row.sent_at})


def _date(raw: str, name: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(f"{name} 须为日期，如 2026-12-01", code="invalid_date", details={"field": name})


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class CampaignResultsApi(APIView):
    permission_classes = [IsAuthenticated]
    api_auth = STAFF_SESSION

    @extend_schema(
        parameters=[
            OpenApiParameter("ids", str, description=f"活动 id，逗号分隔（最多 {MAX_IDS} 个）；给出时忽略日期"),
            OpenApiParameter("from", date, description="发送日期从（北京时间，含当天）；默认 30 天前"),
            OpenApiParameter("to", date, description="发送日期到（北京时间，含当天）；默认今天"),
        ],
        responses={200: ResultsOutput, **errors(403)}, operation_id="v1_campaign_results",
        summary="营销活动效果（员工，需「营销活动」查看权限）")
    def get(self, request):
        user = request.user
        if not (user.is_active and user.is_staff and user.has_perm("campaigns.view_campaign")):
            raise PermissionDenied("需要营销活动的查看权限", code="forbidden")
        raw_ids = request.query_params.get("ids")
        if raw_ids is not None:
            parts = [part.strip() for part in raw_ids.split(",") if part.strip()]
            if not parts or len(parts) > MAX_IDS or not all(p.isdigit() and len(p) < 19 for p in parts):
                raise ValidationFailed(f"ids 须为逗号分隔的活动 id（最多 {MAX_IDS} 个）", code="invalid_ids")
            return Response(ResultsOutput({"results": campaign_results([int(p) for p in parts])}).data)
        today = timezone.localdate()
        raw_from, raw_to = request.query_params.get("from"), request.query_params.get("to")
        end = _date(raw_to, "to") if raw_to else today
        start = _date(raw_from, "from") if raw_from else end - timedelta(days=30)
        if start > end:
            raise ValidationFailed("开始日期不能晚于结束日期", code="invalid_range")
        if (end - start).days > MAX_DAYS:
            raise ValidationFailed(f"日期范围最多 {MAX_DAYS} 天", code="invalid_range")
        rows = campaign_results(since=_day_start(start), until=_day_start(end + timedelta(days=1)))
        return Response(ResultsOutput({"results": rows}).data)
