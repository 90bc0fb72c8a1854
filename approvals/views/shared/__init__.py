"""What the customer portal's and the internal site's views share: the guards that find a page's
tenant or provider role, and the pieces both sites' pages are built from."""
