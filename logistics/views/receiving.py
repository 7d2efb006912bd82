"""Pages of the receiving part of logistics (filled in by its issue work)."""

urlpatterns = []
