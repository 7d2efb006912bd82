import json

from django.conf import settings

from .consent import TEMPLATE_TITLES


def subscribe_templates(request):
    """Our template name → {id, title} for the mini-site's `subscribe.ask` (static/js/subscribe.js):
    a mini program has its template ids in its code; here the page carries them."""
    templates = {name: {"id": template_id, "title": TEMPLATE_TITLES.get(name, name)}
                 for name, template_id in settings.WECHAT_SUBSCRIBE_TEMPLATES.items() if template_id}
    return {"subscribe_templates_json": json.dumps(templates, ensure_ascii=False, sort_keys=True)}
