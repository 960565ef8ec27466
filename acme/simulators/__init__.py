"""External systems simulated by our own code.

The catalog draws some systems as external (a payment provider, for example). For local runs and
tests each of them is replaced by a simulator written here. A simulator runs as its own process,
keeps its own data store and speaks the real system's wire protocol, so the platform talks to it
with the same client library it would use in production; only a base URL changes.
"""
