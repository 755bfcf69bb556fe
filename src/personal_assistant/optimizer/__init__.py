"""The database optimizer's machinery; the public facade is
:class:`personal_assistant.config.optimization.DatabaseOptimizer`.

Layers: :mod:`.queries` (catalog SQL) and :mod:`.fetch` (read-only I/O) gather
:class:`~.models.CatalogFacts`, with :mod:`.privileges` saying what the role may not
read; :mod:`.hypo` plans the top statements (:mod:`.parsing` reads them,
:mod:`.estimates` checks the planner's row estimates against pg_stat_statements) and
tests :mod:`.candidates` with HypoPG; :mod:`.choose` picks one consistent index set,
which :mod:`.hypo` plans again all at once; :mod:`.suggest` (index suggestions, in
ms/day), :mod:`.rules` and :mod:`.index_rules` (pure) turn all of it into
:class:`~.models.Recommendation` objects, :mod:`.ranking` orders them, :mod:`.ddl`
writes the SQL, and :mod:`.apply` runs chosen ones. :mod:`.errors` converts database
failures once, per step.
"""
