"""One home for the tests' helpers, one module per job.

- `ports`: free loopback ports, and `retry_on_port_clash` for a server told its port.
- `processes`: start a server in its own session, stop it (and what it spawned) in order.
- `settings`: the demo account's `Settings`, and the same as an environment for subprocesses.
- `signing`: the reference signer, the published HMAC recipe in plain `hmac`/`base64`.
- `caller`: a hand-signed caller of the partner API whose every part can be broken.
- `postgres`: a throwaway schema or database on the test PostgreSQL.
- `dovecot`: a real Dovecot IMAP server on free ports, with a Maildir to deliver into.
"""
