"""Where delivery proof photos live: outside MEDIA_ROOT, which the web server in front publishes
as /media/ to anyone. A proof photo shows a customer's door and who signed; it is handed out only
by admin's photo view (StopAdmin), to staff who may view stops."""

import os

from django.conf import settings
from django.core.files.storage import FileSystemStorage


class PrivateStorage(FileSystemStorage):
    """Files under settings.PRIVATE_MEDIA_ROOT (read at each use, so tests can move it), with no
    public URL: `.url` refuses."""

    @property
    def base_location(self):
        return self._value_or_setting(self._location, settings.PRIVATE_MEDIA_ROOT)

    @property
    def location(self):
        return os.path.abspath(self.base_location)

    def url(self, name):
        raise ValueError("私有文件没有公开地址")


_proofs = PrivateStorage()


def proof_storage() -> PrivateStorage:
    return _proofs
