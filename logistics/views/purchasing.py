"""Pages of the purchasing part of logistics (filled in by its issue work)."""

urlpatterns = []
