"""HTTP surface: OAuth 2.0 token endpoint, OpenID metadata and JWKS, per tenant."""
