"""Outputs: results.json for tools and CI (HTML and JUnit come with the report issue)."""
