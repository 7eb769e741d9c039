"""Bytes to text and metadata (EDGAR SGML, PDF, OCR, HTML). Built in later issues."""
