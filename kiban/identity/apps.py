from typing import Any

from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "kiban.identity"
    label = "identity"

    def ready(self) -> None:
        from kiban.registry.signals import basic_info_changed

        basic_info_changed.connect(_revoke_on_change, dispatch_uid="identity-revoke-on-change")


def _revoke_on_change(sender: Any, *, person: Any, reason: str, **kwargs: Any) -> None:
    """JPKI: a change of name or address revokes the signature certificate."""
    from kiban.identity.services import revoke_cards_for

    revoke_cards_for(person, reason)
