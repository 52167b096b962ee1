"""Ingestion of activity data: files and JSON records in, activities and ledger rows out."""
