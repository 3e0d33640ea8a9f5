"""`connector-gateway`: a paconn-shaped command line for the connector gateway, over its HTTP API.

    connector-gateway create|update --api-def F --api-prop F [--icon F] [--script F] [--secret S] [--settings F]
    connector-gateway download|validate|list ...
    connector-gateway connections list|create|update|delete|reauthorize|openapi ...
    connector-gateway keys|subscriptions ...        (the store-level admin commands of shared/cli.py)

The gateway's URL and a subscription key or bearer token come from flags, the environment (GATEWAY_URL,
GATEWAY_KEY, GATEWAY_TOKEN) or the env file `make run` writes (.local/gateway.env).
"""
