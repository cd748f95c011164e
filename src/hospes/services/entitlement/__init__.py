"""Entitlement management: access packages that bundle group memberships and app roles, requested under policies,
approved in stages, delivered through the group and app-role services, and taken away at expiry by the durable
timers (``services/timers.py``). ``catalogs`` (catalogs, resources, packages, role scopes), ``policies``
(assignment policies, connected organizations, settings), ``requests`` (assignment requests), ``approvals``,
``grants`` (the memberships and app roles a package gives, counted across packages), ``lifecycle`` (delivery,
expiry, the external-user lifecycle; the timer handlers), ``external`` (requests from people outside the
directory).
"""
