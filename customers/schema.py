from drf_spectacular.extensions import OpenApiAuthenticationExtension


class VisitorTokenScheme(OpenApiAuthenticationExtension):
    target_class = "customers.authentication.VisitorTokenAuthentication"
    name = "visitorToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Visitor <token>`：POST /api/v1/auth/session 用 wx.login 的 code 换取",
        }
