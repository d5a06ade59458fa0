"""The assistant's schema. Search keeps no state of its own (the index is Chroma's and
the alias Redis'); chat sessions and messages will live here."""

from sqlalchemy import MetaData

metadata = MetaData()
