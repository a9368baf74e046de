from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "kiban.console"
    label = "console"
