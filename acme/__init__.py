"""Acme reference platform: hand-written systems, simulators and the runtime they share."""
