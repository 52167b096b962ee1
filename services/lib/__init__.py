"""Libraries the deployables and the flows share: plain functions over the common clients (docs/architecture.md)."""
