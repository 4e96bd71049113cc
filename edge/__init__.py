"""store-edge daemon."""
