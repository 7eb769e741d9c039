"""Market-data feeds, the book engine, gap detection and book reconstruction (later issues)."""
