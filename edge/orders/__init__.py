"""Orders: the contract's Order document and its lifecycle."""
