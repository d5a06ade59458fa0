"""Older versions of events that have a newer one.

Producers write only the newest version (the unversioned names in `marcus_contracts.
events.<service>`), and a consumer always receives the newest: the registry upcasts old
data first (`marcus_contracts.upcasters`). These models stay registered so events written
long ago still validate, their JSON schemas stay published, and compatibility checks can
compare versions.
"""

from marcus_contracts.events.history import catalog, orders

ALL = (*catalog.ALL, *orders.ALL)
