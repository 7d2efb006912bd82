# The fake WeChat server's fixtures live with it so other test packages can import them too.
from .fake_server import fake_wechat, fake_wechat_server, wechat_real  # noqa: F401
