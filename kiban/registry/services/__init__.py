"""住民記録の異動 (registry events): the only way registry data changes.

Every public function here is one transaction that writes one ``RegistryEvent``, the
``PersonState`` rows it implies and exactly one audit entry, or nothing at all. Each checks
that the actor is a registry clerk of the municipality (system and operator actors pass)
and refuses an invalid event with ``ValidationFailed`` naming the problem in Japanese and
English; where the problem belongs to an input field, ``details["field"]`` names it
(``persons.0.family_kana`` for the first person of a move-in).

History is never overwritten. An event on date D closes each affected person's current
state at D (``valid_to = D``) and opens a successor ``[D, OPEN_END)``. Events are recorded
in date order per person: an event dated before the person's current state began is
refused; mistakes in the past are fixed with 職権修正 (``record_correction``). A
correction dated on the current state's first day leaves that state as an empty range
``[D, D)``: it drops out of every as-of query but stays in the history.

Accepted dates: 届出日 (reported date) not in the future; 異動日 (event date) not after
the reported date, except a 転出 (move out) whose planned date may lie ahead.

Every household that still has resident members after an event must have exactly one
head (世帯主): events that would leave one without a head are refused unless they name the
new head (``new_head``).

Persons are passed as ``Person`` objects or as their 住民票コード.
"""

from kiban.registry.services._base import (
    CHILD,
    HEAD,
    LODGER,
    Address,
    HouseholdChangeKind,
    NewPerson,
    PersonRef,
)
from kiban.registry.services.family import record_birth, record_death, record_household_change
from kiban.registry.services.moves import record_move_in, record_move_out, record_move_within
from kiban.registry.services.records import (
    PERSON_CORRECTABLE,
    STATE_CORRECTABLE,
    record_correction,
    record_name_change,
    set_mynumber,
    set_protection,
)

__all__ = [
    "CHILD",
    "HEAD",
    "LODGER",
    "PERSON_CORRECTABLE",
    "STATE_CORRECTABLE",
    "Address",
    "HouseholdChangeKind",
    "NewPerson",
    "PersonRef",
    "record_birth",
    "record_correction",
    "record_death",
    "record_household_change",
    "record_move_in",
    "record_move_out",
    "record_move_within",
    "record_name_change",
    "set_mynumber",
    "set_protection",
]
