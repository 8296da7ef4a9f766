# One image, both connectors. Airbyte runs the destination by default; the source with
#   docker run --entrypoint source-listmonk IMAGE spec
FROM python:3.11-slim

WORKDIR /airbyte/integration_code
COPY setup.py README.md ./
COPY connector_kit ./connector_kit
COPY listmonk_client ./listmonk_client
COPY destination_listmonk ./destination_listmonk
COPY source_listmonk ./source_listmonk
RUN pip install --no-cache-dir . \
    && useradd --system --uid 1000 airbyte
USER airbyte

ENV AIRBYTE_ENTRYPOINT="destination-listmonk"
ENTRYPOINT ["destination-listmonk"]

LABEL io.airbyte.name=airbyte/destination-listmonk
LABEL io.airbyte.version=0.4.0
