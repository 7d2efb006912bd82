"""Pages of the delivery part of logistics (filled in by its issue work)."""

urlpatterns = []
