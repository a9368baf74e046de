from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "kiban.core"
    label = "core"
    verbose_name = "kiban core"
