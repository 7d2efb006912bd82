"""Existing customers' phones in the canonical form, before 0005 makes them unique.

Duplicates (two restaurants with one number, as racing first authorisations could create before
the constraint existed) are not merged here: which restaurant keeps the orders, the rep, the
address is a business decision, and merging wrongly loses data. The migration stops instead,
naming each group, so an operator can merge or renumber them in the admin and rerun `migrate`.
Nothing is changed when it stops (the migration is one transaction).
"""

import re
import unicodedata

from django.db import migrations

# A frozen copy of customers.phones.phone_normalize: a migration must not change with the app.
_SEPARATORS = re.compile(r"[\s\-.()]+")
_MOBILE_WITH_COUNTRY_CODE = re.compile(r"^(?:\+|00)?86(1[3-9]\d{9})$")


def _normalize(raw):
    text = _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw or ""))
    match = _MOBILE_WITH_COUNTRY_CODE.match(text)
    return match.group(1) if match else text


class DuplicatePhones(RuntimeError):
    pass


def normalise_phones(apps, schema_editor):
    Customer = apps.get_model("customers", "Customer")
    rows = list(Customer.objects.order_by("pk").values_list("pk", "name", "phone"))
    by_phone = {}
    for pk, name, phone in rows:
        by_phone.setdefault(_normalize(phone), []).append((pk, name))
    duplicates = {phone: group for phone, group in by_phone.items() if len(group) > 1}
    if duplicates:
        lines = [
            f"  {phone or '(empty)'}: " + ", ".join(f"#{pk} {name}" for pk, name in group)
            for phone, group in sorted(duplicates.items())
        ]
        raise DuplicatePhones(
            f"{len(duplicates)} phone number(s) belong to more than one customer; a phone must be one "
            "restaurant before customers.0005 makes it unique. Merge these customers (move the visitors "
            "and orders to one of them) or give each its own number in the admin, then run migrate "
            "again. Nothing was changed.\n" + "\n".join(lines)
        )
    for pk, _, phone in rows:
        canonical = _normalize(phone)
        if canonical != phone:
            Customer.objects.filter(pk=pk).update(phone=canonical)


class Migration(migrations.Migration):

    dependencies = [
        ("customers", "0003_churn"),
    ]

    operations = [
        migrations.RunPython(normalise_phones, migrations.RunPython.noop),
    ]
