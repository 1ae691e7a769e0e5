"""The Prefect shell of partner-sync: the flow, the Prefect OTP source, Secret blocks, run lock.

Everything here imports Prefect; the run itself is `partner_sync.core.run.run_sync`.
Importing the package sets Prefect defaults that suit a machine that may be offline.
"""

from flows._prefect_runtime import quiet_prefect_defaults

quiet_prefect_defaults()
