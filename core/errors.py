"""The one hierarchy of errors that services raise and interfaces translate.

The message is for the user (Chinese); `code` is stable for clients; `details` is structured.
"""

from typing import Any


class ApplicationError(Exception):
    code = "error"
    status_code = 400
    default_message = "请求无法处理"

    def __init__(self, message: str | None = None, *, code: str | None = None, details: Any = None):
        self.message = message or self.default_message
        if code:
            self.code = code
        self.details = details if details is not None else {}
        super().__init__(self.message)

    def as_dict(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class ValidationFailed(ApplicationError):
    code = "invalid"
    default_message = "输入有误"


class NotFound(ApplicationError):
    code = "not_found"
    status_code = 404
    default_message = "找不到该对象"


class NotAuthenticated(ApplicationError):
    code = "not_authenticated"
    status_code = 401
    default_message = "请先登录"


class PermissionDenied(ApplicationError):
    code = "forbidden"
    status_code = 403
    default_message = "没有权限"


class Conflict(ApplicationError):
    code = "conflict"
    status_code = 409
    default_message = "操作冲突，请重试"


class ProductUnavailable(ApplicationError):
    code = "product_unavailable"
    status_code = 409
    default_message = "商品已下架"


class InsufficientStock(ApplicationError):
    code = "insufficient_stock"
    status_code = 409
    default_message = "库存不足"


class ExternalServiceError(ApplicationError):
    """A call to WeChat (or another outside service) failed; the user may retry."""

    code = "external_service"
    status_code = 502
    default_message = "微信服务暂时不可用，请稍后再试"
