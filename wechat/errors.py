from core.errors import ApplicationError, ExternalServiceError


class InvalidLoginCode(ApplicationError):
    code = "invalid_login_code"
    status_code = 400
    default_message = "登录凭证无效或已过期，请重新进入小程序"


class WeChatRateLimited(ExternalServiceError):
    code = "wechat_rate_limited"
    status_code = 429
    default_message = "操作太频繁，请稍后再试"


class WeChatRiskyUser(ApplicationError):
    code = "wechat_risky_user"
    status_code = 403
    default_message = "微信账号存在风险，暂时无法使用"


class InvalidPhoneCode(ApplicationError):
    code = "invalid_phone_code"
    status_code = 400
    default_message = "手机号授权已失效，请重新授权"
