from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "kiban.registry"
    label = "registry"
