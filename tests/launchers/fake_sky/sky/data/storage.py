"""Clouds with object storage, as SkyPilot 0.14 lists them (``STORE_ENABLED_CLOUDS``)."""

STORE_ENABLED_CLOUDS = ["AWS", "GCP", "Azure", "IBM", "OCI", "Nebius", "Cloudflare", "CoreWeave"]
