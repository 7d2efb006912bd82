"""Logistics in Django admin, one module per part of the warehouse's day."""

from . import delivery, stock, turnover  # noqa: F401 - each registers its admins
