"""The ``pa-db`` command line."""
