"""Use cases of the directory. Services take a session factory and the acting principal, never an HTTP request."""
