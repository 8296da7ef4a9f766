"""What the two connectors share on the Airbyte side: connection settings and spec generation."""
