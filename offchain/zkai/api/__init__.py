"""The API service: an event indexer, a read-only REST API and the dashboard.

`zkai.api.app.create_app(settings)` builds the app; `zkai.api.run.serve` runs it in the
foreground (`zkai api`); `zkai up` starts it in the background (`zkai.localnet.network`).
"""
