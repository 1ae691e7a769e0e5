"""Deployments of the sync flow: `serve.py` for one host, `prefect.yaml` for work pools."""
