"""Several ``parley-server`` nodes sharing one database and one Redis (issue 12).

Only :mod:`server.cluster.link` and :mod:`server.cluster.envelope` are imported by the
single-process server; everything that imports ``redis`` (:mod:`.node`, :mod:`.bus`,
:mod:`.presence`, :mod:`.limits`) is loaded by :func:`server.app.create_app` only when a
Redis URL is configured, so the embedded desktop server never imports redis.
"""
