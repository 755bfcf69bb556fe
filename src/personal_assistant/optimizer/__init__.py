"""The database optimizer's machinery; the public facade is
:class:`personal_assistant.config.optimization.DatabaseOptimizer`.

Layers: :mod:`.queries` (catalog SQL) and :mod:`.fetch` (read-only I/O) gather
:class:`~.models.CatalogFacts`; :mod:`.hypo` plans the top statements and tests
:mod:`.candidates` with HypoPG; :mod:`.rules` and :mod:`.suggest` (pure) turn both
into :class:`~.models.Recommendation` objects; :mod:`.apply` runs chosen ones.
"""
