"""partner-sync, the application: the Prefect-free core (`partner_sync.core`) and the CLI.

The layers, top to bottom (each imports only those below it; `lint-imports` checks it):
`partner_sync.cli` → `deployments` → `flows` (Prefect) → `partner_sync.core` → `storage`
→ `partner_api`.
"""
