"""A tiny system shaped like generated code plus its implementation, for the process tests.

`catalog.py` plays `generated.catalog`; `services/`, `http/`, `datastores/` play the generated
modules; `impl/fake` is the hand-written implementation package of host `fake-system`.
"""
