from django.conf import settings


def wechat(request):
    """Whether this server plays the WeChat client (/wechat-dev/): the mini-site's wx.js asks."""
    return {"wechat_dev": settings.WECHAT_BACKEND == "dev"}
