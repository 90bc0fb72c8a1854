"""Tenant webhooks: signed payloads (signing), where they may go (addresses), how they are posted
(transport), and the endpoints tenant admins manage (endpoints)."""
