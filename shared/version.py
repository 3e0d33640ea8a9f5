"""The gateway's version, reported by /api/health/ready. Raise it with every release."""

VERSION = "1.0.0"
