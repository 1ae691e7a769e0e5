"""The application core, free of Prefect: what a run is, whichever shell starts it.

- `settings`: the configuration, read once at the edge (`load_settings`).
- `run`: the one run loop, `run_sync(settings, datasets, ...) -> RunReport`.
- `dataset`: one dataset's read and write (`sync_one`).
- `login`: the run's session, kept or fresh (`start_session`).
- `session`: where a session is kept between runs (the protocol and the file store).
- `otp`: the OTP source the settings name (`build_otp_source`).
- `client`: the `PartnerClient` from settings.
- `report`: outcomes, the verdict rule, the table columns, the markdown report.
- `progress`: progress as log lines or rich bars.
- `redact`: masking secrets in log records.
"""
