"""One home for the tests' helpers: free ports, processes, Dovecot, PostgreSQL."""
