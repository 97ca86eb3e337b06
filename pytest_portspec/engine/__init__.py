"""The engine: devices run to verdicts and outcomes, without pytest."""
