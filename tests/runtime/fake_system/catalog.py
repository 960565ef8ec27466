"""Stands in for `generated.catalog` (ACME_CATALOG_MODULE=fake_system.catalog)."""

SYSTEMS = ({"id": "fake-system", "containers": ("echo-database",)},)
SERVICE_MODULES = {
    "echo-service": "fake_system.services.echo_service",
    "watcher-client": "fake_system.services.watcher_client",
}
HTTP_MODULES = {"echo-service": "fake_system.http.echo_service"}
DATASTORE_MODULES = {"echo-database": "fake_system.datastores.echo_database"}
