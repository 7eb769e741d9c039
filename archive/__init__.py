"""WARC capture and import, CDXJ index, closest-capture lookup, fixity and WACZ export."""
