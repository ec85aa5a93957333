"""Comparative kernel reports: bench, profile, golden and machine records -> HTML + Markdown + figures."""
