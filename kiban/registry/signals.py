"""Signals other domains listen to, so the registry never imports them."""

from django.dispatch import Signal

# Sent inside the transaction of a registry event that changes a person's 基本4情報
# (name, sex, birth date, address) or ends their residence. Arguments: ``person``,
# ``reason`` (the event kind), ``event``. Identity revokes signature certificates on it,
# as JPKI does when basic information changes.
basic_info_changed = Signal()
