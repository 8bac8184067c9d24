"""connectors/builtin"""
