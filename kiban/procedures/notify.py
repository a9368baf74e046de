"""Notification channels: how a resident hears that an application changed state.

Channels are plugins registered by name (``@register("email")``); ``settings.KIBAN_NOTIFY``
lists the ones in use (default: portal and email). Each gets the application and the
:class:`~kiban.procedures.models.ApplicationMessage` just written, after the transaction
committed, so a failing mail server never undoes a decision. Shipped:

* ``portal`` — the in-portal message itself (the ApplicationMessage row is the message);
  nothing more to send, it only logs.
* ``email`` — Django's mail framework, when ``Application.email`` is set.
* ``demo`` — keeps the last notifications in memory (``DemoChannel.outbox``) for demos.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, TypeVar

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

if TYPE_CHECKING:
    from kiban.procedures.models import Application, ApplicationMessage

log = logging.getLogger(__name__)

__all__ = ["CHANNELS", "DemoChannel", "NotificationChannel", "notify", "register"]


class NotificationChannel:
    """Base class: ``send`` must not raise for an ordinary delivery failure (it logs)."""

    name: ClassVar[str] = ""

    def send(self, application: Application, message: ApplicationMessage) -> None:
        raise NotImplementedError


CHANNELS: dict[str, type[NotificationChannel]] = {}


_C = TypeVar("_C", bound=type[NotificationChannel])


def register(name: str) -> Callable[[_C], _C]:
    """Class decorator: make a channel available under ``name``."""

    def deco(cls: _C) -> _C:
        cls.name = name
        CHANNELS[name] = cls
        return cls

    return deco


def _subject(application: Application) -> str:
    from kiban.procedures.models import AppStatus

    status = AppStatus(application.status).label
    return f"[kiban] 申請 #{application.pk} {status}"


@register("portal")
class PortalChannel(NotificationChannel):
    def send(self, application: Application, message: ApplicationMessage) -> None:
        log.info("portal message %s for application %s", message.pk, application.pk)


@register("email")
class EmailChannel(NotificationChannel):
    def send(self, application: Application, message: ApplicationMessage) -> None:
        if not application.email:
            return
        body = (
            f"申請番号 / Application: #{application.pk}\n"
            f"{message.text}\n\n"
            "詳しくはポータルの申請ページをご覧ください。\n"
            "See the application page in the portal for details.\n"
            f"/applications/{application.pk}/\n"
        )
        try:
            send_mail(
                _subject(application),
                body,
                getattr(settings, "DEFAULT_FROM_EMAIL", "kiban@localhost"),
                [application.email],
            )
        except OSError:
            log.exception("email for application %s not sent", application.pk)


@register("demo")
class DemoChannel(NotificationChannel):
    outbox: ClassVar[list[tuple[int, str]]] = []

    def send(self, application: Application, message: ApplicationMessage) -> None:
        self.outbox.append((application.pk, message.text))
        del self.outbox[:-100]


def active_channels() -> list[NotificationChannel]:
    names = getattr(settings, "KIBAN_NOTIFY", ["portal", "email"])
    return [CHANNELS[n]() for n in names if n in CHANNELS]


def notify(application: Application, message: ApplicationMessage) -> None:
    """Send ``message`` through every active channel once the transaction has committed."""

    def send_all() -> None:
        for channel in active_channels():
            try:
                channel.send(application, message)
            except Exception:  # a plugin bug must not turn a committed decision into a 500
                log.exception("notification channel %s failed", channel.name)

    transaction.on_commit(send_all)
