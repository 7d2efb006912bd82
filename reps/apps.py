from django.apps import AppConfig


class RepsConfig(AppConfig):
    name = "reps"
    verbose_name = "业务员"

    def ready(self):
        from . import figures

        figures.connect()  # the rep's cached counts, bumped by the writes that change them
