"""Docker: the daemon client, labels and collection, and images built without a registry."""
