"""The customer portal's pages (internet-facing). Nothing here imports the internal site."""
