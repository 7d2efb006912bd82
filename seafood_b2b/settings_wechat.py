"""WeChat, WeChat Pay and WeCom settings, imported by seafood_b2b/settings.py.

Every value comes from the environment; the development defaults (the dev backends' made-up ids
and keys) are named in seafood_b2b/production.py, which refuses them when ENVIRONMENT=production.
"""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from seafood_b2b import production
from seafood_b2b.env import BASE_DIR, env_bool

# WeChat: `dev` plays WeChat locally (default); `real` talks to the documented HTTP APIs.
WECHAT_BACKEND = os.environ.get("WECHAT_BACKEND", "dev")
WECHAT_APPID = os.environ.get("WECHAT_APPID", production.DEV_WECHAT_APPID)
WECHAT_SECRET = os.environ.get("WECHAT_SECRET", "")
WECHAT_API_BASE = os.environ.get("WECHAT_API_BASE", "https://api.weixin.qq.com")
WECHAT_HTTP_TIMEOUT = float(os.environ.get("WECHAT_HTTP_TIMEOUT", "5"))

# Where WeCom serves contact-me code images (add_contact_way's qr_code); allowed as images on our pages.
WECOM_QR_IMAGE_HOSTS = [h for h in os.environ.get("WECOM_QR_IMAGE_HOSTS", "https://wework.qpic.cn").split(",") if h]

# WeChat Pay API v3. Amounts cross this boundary in fen; everything inside is Decimal yuan.
WECHATPAY_MCHID = os.environ.get("WECHATPAY_MCHID", production.DEV_WECHATPAY_MCHID)
WECHATPAY_APIV3_KEY = os.environ.get("WECHATPAY_APIV3_KEY", production.DEV_WECHATPAY_APIV3_KEY)
WECHATPAY_MERCHANT_KEY_PATH = os.environ.get("WECHATPAY_MERCHANT_KEY_PATH", "")
WECHATPAY_MERCHANT_CERT_SERIAL = os.environ.get("WECHATPAY_MERCHANT_CERT_SERIAL", "")
WECHATPAY_PUBLIC_KEY_PATH = os.environ.get("WECHATPAY_PUBLIC_KEY_PATH", "")
WECHATPAY_PUBLIC_KEY_ID = os.environ.get("WECHATPAY_PUBLIC_KEY_ID", "")
WECHATPAY_API_BASE = os.environ.get("WECHATPAY_API_BASE", "https://api.mch.weixin.qq.com")
# Where WeChat Pay posts notifications: https, no query string. Unset: built from the request's host.
WECHATPAY_NOTIFY_URL = os.environ.get("WECHATPAY_NOTIFY_URL", "")
WECHATPAY_DEV_KEY_DIR = Path(os.environ.get("WECHATPAY_DEV_KEY_DIR", BASE_DIR / "var" / "wechatpay-dev"))
# The dev WeChat Pay sends every notification twice, as the real one may.
WECHATPAY_DEV_DUPLICATE_NOTIFY = env_bool("WECHATPAY_DEV_DUPLICATE_NOTIFY", True)
if len(WECHATPAY_APIV3_KEY) != 32:
    raise ImproperlyConfigured("WECHATPAY_APIV3_KEY must be 32 characters")

# Subscribe-message templates: our name → the template id chosen in the mini program's console.
# With the dev backend any id works; set the real ids with WECHAT_TEMPLATE_<NAME>. Each is sent
# only against the customer's acceptance of it (README "Customer messages and consent"):
# order_paid (payment settled), delivery_done (signed by / left at), weight_refund (catch-weight
# difference refunded at packing), refund_done (a refund reached the customer), aftersales_result
# (a staff decision), complaint_reply (a reply to a complaint), welcome (crm: a new restaurant's
# first phone authorisation; sent only if that user accepted it).
WECHAT_SUBSCRIBE_TEMPLATES = {
    name: os.environ.get(f"WECHAT_TEMPLATE_{name.upper()}", f"{production.DEV_TEMPLATE_PREFIX}{name}")
    for name in ("order_paid", "delivery_done", "weight_refund", "refund_done", "aftersales_result",
                 "complaint_reply", "welcome", "cutoff_reminder", "promotion")
}

# Where this site is reached from outside (a phone's camera): dev mini-program codes point here.
SITE_URL = os.environ.get("SITE_URL", production.DEV_SITE_URL)

# WeCom (企业微信) customer contact: the corp id and the secret of the app holding 客户联系 rights.
# With the dev backend a made-up corp id, so the dev WeCom's callbacks (wechat.views) are addressed and checked.
WECOM_CORP_ID = os.environ.get("WECOM_CORP_ID", production.DEV_WECOM_CORP_ID if WECHAT_BACKEND == "dev" else "")
WECOM_SECRET = os.environ.get("WECOM_SECRET", "")
WECOM_API_BASE = os.environ.get("WECOM_API_BASE", "https://qyapi.weixin.qq.com")
# The callback URL's Token and EncodingAESKey (应用管理 → 接收消息 → 设置API接收), /wecom/callback.
WECOM_CALLBACK_TOKEN = os.environ.get("WECOM_CALLBACK_TOKEN", production.DEV_WECOM_CALLBACK_TOKEN)
WECOM_CALLBACK_AES_KEY = os.environ.get("WECOM_CALLBACK_AES_KEY", production.DEV_WECOM_CALLBACK_AES_KEY)
if len(WECOM_CALLBACK_AES_KEY) != 43:
    raise ImproperlyConfigured("WECOM_CALLBACK_AES_KEY must be the 43-character EncodingAESKey")
# Sent through WeCom (send_welcome_msg) when a customer adds a rep; {rep_name} is the rep's name.
WECOM_WELCOME_TEXT = os.environ.get("WECOM_WELCOME_TEXT", "您好，我是{rep_name}，以后订货、配送和售后有任何问题随时找我。")
# A callback whose timestamp is further than this from now is refused (replay defence).
WECOM_CALLBACK_MAX_AGE_SECONDS = int(os.environ.get("WECOM_CALLBACK_MAX_AGE_SECONDS", "300"))
# WeCom app messages to staff (send_staff_message): the agentid of the self-built app whose secret
# is WECOM_SECRET (message/send wants that app's token; give the same app 客户联系 rights).
_wecom_agent_id = os.environ.get("WECOM_AGENT_ID", "").strip()
if _wecom_agent_id and not _wecom_agent_id.isdigit():
    raise ImproperlyConfigured("WECOM_AGENT_ID must be the WeCom app's numeric agentid")
WECOM_AGENT_ID = int(_wecom_agent_id) if _wecom_agent_id else None

# The rep's mini-program code (getwxacodeunlimit, WECHAT_BACKEND=real): the page it opens, whether
# WeChat checks that page exists in the released version, which version opens, and its width in px.
# Changing any of them makes each rep's stored code be generated again on its next view.
WXACODE_PAGE = os.environ.get("WXACODE_PAGE", "pages/index/index")
WXACODE_CHECK_PATH = env_bool("WXACODE_CHECK_PATH", True)
WXACODE_ENV_VERSION = os.environ.get("WXACODE_ENV_VERSION", "release")
if WXACODE_ENV_VERSION not in ("release", "trial", "develop"):
    raise ImproperlyConfigured("WXACODE_ENV_VERSION must be release, trial or develop")
WXACODE_WIDTH = int(os.environ.get("WXACODE_WIDTH", "430"))
# The message the customer sees when a rep's WeCom customers are transferred at a handover (≤200 chars).
WECOM_TRANSFER_MESSAGE = os.environ.get("WECOM_TRANSFER_MESSAGE", "您好，您的客户经理已变更，后续由新的客户经理为您服务。")

# Which version of the mini program a subscribe message opens: formal (released), trial, developer.
WECHAT_MINIPROGRAM_STATE = os.environ.get("WECHAT_MINIPROGRAM_STATE", "formal")
if WECHAT_MINIPROGRAM_STATE not in ("formal", "trial", "developer"):
    raise ImproperlyConfigured("WECHAT_MINIPROGRAM_STATE must be formal, trial or developer")
# The language of a subscribe message's card: zh_CN, en_US, zh_HK or zh_TW.
WECHAT_MESSAGE_LANG = os.environ.get("WECHAT_MESSAGE_LANG", "zh_CN")
