"""The cloud link: MQTT 5 to the aggregator's broker."""
