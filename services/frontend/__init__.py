"""The dashboard's server (port 5173): the built Vite bundle (ui/dist) and its runtime configuration."""
