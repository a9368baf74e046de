from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "kiban.core"
    label = "core"
    verbose_name = "kiban core"

    def ready(self) -> None:
        from kiban.core import sqlite_dates

        sqlite_dates.install()
