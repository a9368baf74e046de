from django.apps import AppConfig


class BenefitsConfig(AppConfig):
    name = "kiban.benefits"
    label = "benefits"
