"""The rep assistant's tag API: a rep reads and sets the manual tags of their own customers."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from core.schema import errors
from reps.api import RepApiView

from . import selectors, services
from .serializers import CustomerTagsInput, CustomerTagsOutput


def _tags_answer(tags) -> dict:
    return {"tags": [{"id": t.tag_id, "name": t.tag.name, "group_id": t.tag.group_id, "group": t.tag.group.name,
                      "source": t.source} for t in tags],
            "groups": selectors.manual_tag_groups()}


class RepCustomerTagsApi(RepApiView):
    @extend_schema(responses={200: CustomerTagsOutput, **errors(403, 404)}, operation_id="v1_rep_customer_tags_get",
                   summary="客户的标签（手动与自动）及可选的手动标签")
    def get(self, request, customer_id: int):
        rep = self.rep(request)
        return Response(_tags_answer(selectors.rep_customer_tags(rep=rep, customer_id=customer_id)))

    @extend_schema(request=CustomerTagsInput, responses={200: CustomerTagsOutput, **errors(403, 404)},
                   operation_id="v1_rep_customer_tags_set", summary="设置客户的手动标签（仅限自己的客户）")
    def put(self, request, customer_id: int):
        rep = self.rep(request)
        data = CustomerTagsInput(data=request.data)
        data.is_valid(raise_exception=True)
        tags = services.customer_tags_set(customer_id=customer_id, tag_ids=data.validated_data["tag_ids"],
                                          user=request.user, rep=rep)
        return Response(_tags_answer(tags))
