"""Acme's internal systems, one package per system on the systems map.

Each package implements the generated contracts of its services (see `generated/services/` and
`generated/http/`) and exposes `create(app)`, which the process host calls. Packages never import
each other: systems talk only through catalog messages and HTTP. The canonical shape is
`domain.py` (pure rules), `handlers.py` (message handlers), `http.py` (HTTP handlers) and
`store.py` (queries on the generated tables).
"""
