"""The orchestration engine (port 8003): flow results and data-core events in, WebSockets out, REST for
the dashboard, Prefect deployments triggered."""
