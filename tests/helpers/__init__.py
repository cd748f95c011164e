"""Helpers shared by the test modules: tenants and tokens, Graph error checks, the portal's pages, live servers,
an SMTP sink, SCIM targets, a fault-injecting proxy and a fake clock. Test modules import from here, never from
each other."""
