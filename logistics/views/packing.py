"""Pages of the packing part of logistics (filled in by its issue work)."""

urlpatterns = []
