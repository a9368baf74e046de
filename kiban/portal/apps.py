from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "kiban.portal"
    label = "portal"
