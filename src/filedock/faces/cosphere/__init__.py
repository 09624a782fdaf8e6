"""The cosphere face (seed 003): accounts and sign-in; the catalogue and extracts join later.

Bodies carry `@event` and `@type` (envelope.py); callers authenticate with Bearer tokens
from the auth-request flow (auth.py).
"""
