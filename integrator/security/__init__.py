"""Security primitives: secrets as a type, and the single point where output is redacted."""
