"""Framework-free domain vocabulary: errors, principals, permissions, well-known ids."""
