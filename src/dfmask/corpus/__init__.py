"""The DFDC corpus layout: metadata, ingest, and the sample-corpus generator."""
