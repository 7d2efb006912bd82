"""The customer's coupons (visitor token, own coupons only). Using one is checkout's
(`coupon_id` of POST /api/v1/orders); the checkout preview lists the options."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.api import current_visitor
from core.schema import VISITOR

from . import selectors
from .serializers import CouponOptionSerializer, CouponWalletSerializer


class CouponListApi(APIView):
    api_auth = VISITOR

    @extend_schema(responses=CouponWalletSerializer, summary="我的优惠券：可使用 / 已使用 / 已过期")
    def get(self, request):
        visitor = current_visitor(request)
        return Response(CouponWalletSerializer(selectors.coupon_wallet(customer_id=visitor.customer_id)).data)


def checkout_coupon_options(*, customer_id, lines: list[dict], subtotal, delivery_fee) -> dict:
    """The checkout preview's `coupons` and `suggested_coupon_id` for the lines it shows (the
    cart's representation: lines with a problem are not in the order)."""
    basket = [(line["product"]["id"], Decimal(line["amount"])) for line in lines if not line["problem"]]
    payable = subtotal + delivery_fee
    options, best = selectors.checkout_coupons(customer_id=customer_id, lines=basket, payable=payable)
    rows = [{"coupon": coupon, "usable": option.refusal is None and option.discount > 0,
             "discount": option.discount, "total": payable - option.discount,
             "reason": option.refusal.message if option.refusal else ""} for coupon, option in options]
    rows.sort(key=lambda row: (not row["usable"], -row["discount"], row["coupon"].template.valid_to))
    return {"coupons": CouponOptionSerializer(rows, many=True).data,
            "suggested_coupon_id": best.coupon.id if best else None}
