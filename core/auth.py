from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


class UserWithRoleBackend(ModelBackend):
    """The logged-in user with their rep or driver row in the same query.

    Every staff page asks "is this an active rep / driver?"; loading the role with the user saves
    a query on each of them (the rep assistant polls every few seconds).
    """

    def get_user(self, user_id):
        user_model = get_user_model()
        try:
            user = user_model._default_manager.select_related("rep", "driver").get(pk=user_id)
        except user_model.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None
