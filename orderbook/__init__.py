"""Market-data feeds, the book engine, gap detection and book reconstruction. Built in later issues."""
