"""JSON API of the identity domain (mounted under /api/v1/ by kiban.api)."""

from ninja import Router

router = Router(tags=["identity"])
