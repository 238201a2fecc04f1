"""OpenData export: aggregate readings, write documented files, describe them in
DCAT-AP.de and publish them to a CKAN portal (Open-Data Schleswig-Holstein).

Depends on ``storage`` (store + registry protocols) and ``decoders.quantities``; nothing
imports it except the API router and the CLI commands.
"""
