"""A Confluent-compatible Schema Registry: its REST API (http.py) over the registry's operations
(service.py), whose state lives in a compacted `_schemas` topic (store.py, records.py, state.py)
reached through the Kafka protocol only, so it runs inside kbroker or against any broker.
Schema types and compatibility rules are in schemas.py, compatibility.py and jsonschema_compat.py.
Needs the `registry` extra: pip install 'kbroker[registry]'."""
