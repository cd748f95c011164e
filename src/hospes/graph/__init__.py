"""HTTP surface 1: the Microsoft Graph v1.0-compatible REST API. Routing and (de)serialization only."""
