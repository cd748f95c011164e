"""B2B invitations, by concern:

* ``service``: the use case, ``InvitationService.invite`` (prepare, then commit in one transaction);
  ``guests``: the invited user's rows (find, create, re-invite, reset, sponsors); ``tickets``: redemption links.
* ``batch``: group commit, many ``POST /invitations`` calls that arrive together in one transaction (throughput).
* ``bulk``: rows of one API request or CLI file, invited while the caller waits, through ``batch``.
* ``jobs`` and ``jobs_worker``: the portal's durable bulk uploads, invited row by row by a background worker.
* ``onboarding``: the portal's invite straight into groups and app roles, in the invitation's transaction.
* ``blocks``: a recipient's "block future invitations" from a tenant, and undoing it.
"""
