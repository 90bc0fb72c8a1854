"""The provider's internal site's pages. Nothing here imports the customer portal."""
