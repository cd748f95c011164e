"""Hospes as the OpenID Connect provider of every tenant: the authorization request (``authorize``), consent
(``consent``), codes and refresh tokens (``grants``), client authentication (``client_auth``), token contents
(``claims``), UserInfo and sign-out (``logout``). Nothing here knows HTTP: the pages (``web/oidc*.py``) and the
token endpoint (``oauth/``) call these use cases and shape the answers."""
