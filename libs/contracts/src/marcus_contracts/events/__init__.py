"""Event payload models, one module per producing service.

Each module ends with an unversioned name for the newest version of every event it
declares (`OrderPlaced = OrderPlacedV2`, and of the models events carry). Producers and
consumers use only those names, so one grep of a name lists the producer and every
consumer; versions that have a newer one live in `history`, registered so old data still
validates and is upcast (docs/adr/0023).
"""
