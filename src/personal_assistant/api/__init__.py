"""The HTTP layer: the only package that imports FastAPI.

:mod:`.routes` mounts every router on an app; :mod:`.health` (liveness, readiness,
database, pool, performance, metrics), :mod:`.migrations`, :mod:`.optimization` and
:mod:`.dashboard` hold the routes; :mod:`.deps` the shared dependencies
(``SessionDep``, ``ReadSessionDep``, ``RuntimeDep``, the token check);
:mod:`.responses` the one health+json response helper; :mod:`.errors` the handlers
that turn database outages into 503s. Routes call the areas below
(``monitoring``, ``optimizer``, ``database``, ``service``) and turn their typed
results into JSON here, at the edge.
"""
