"""JSON API of the benefits domain (mounted under /api/v1/ by kiban.api)."""

from ninja import Router

router = Router(tags=["benefits"])
