"""Alerting: rules (YAML), one evaluator (a lease in the registry database makes it one),
durable state, history and an outbox in the registry database, notifications via apprise.

Modules: :mod:`alerts.rules` (file format, validation), :mod:`alerts.tables` (schema of
migration 0004), :mod:`alerts.state` (the registry-database side: lease, state, outbox),
:mod:`alerts.evaluator` (conditions and transitions), :mod:`alerts.notify` (channels and
delivery), :mod:`alerts.service` (the background thread). ``alerts`` reads ``storage`` and
``decoders`` (the quantity catalogue); nothing of ``ingest`` or ``api``.
"""
