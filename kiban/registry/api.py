"""JSON API of the registry domain (mounted under /api/v1/ by kiban.api)."""

from ninja import Router

router = Router(tags=["registry"])
