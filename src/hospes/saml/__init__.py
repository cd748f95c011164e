"""The SAML 2.0 identity provider's messages, framework-free: AuthnRequest and logout reading (both bindings,
signatures checked), the Response in Entra's layout and its signatures, NameIDs, default claims and metadata. The
apps' token-signing certificates and loaded keys are ``hospes.auth.certificates``'. No database, no HTTP: services
feed it and surfaces carry what it builds."""
