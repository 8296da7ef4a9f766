# Both connectors' images from one file, one target each:
#   docker build --target destination -t airbyte/destination-listmonk:dev .
#   docker build --target source      -t airbyte/source-listmonk:dev .
# Without --target the destination is built. scripts/build_images.sh builds both with podman and no registry,
# FROM a stand-in base passed as BASE_IMAGE (see docs/images.md).
ARG BASE_IMAGE=docker.io/airbyte/python-connector-base:4.0.2@sha256:9fdb1888c4264cf6fee473649ecb593f56f58e5d0096a87ee0b231777e2e3e73

FROM ${BASE_IMAGE} AS install
# A CA bundle for pip where PyPI is reached through TLS interception (mounted into the build, never kept).
ARG PIP_CERT=""
WORKDIR /airbyte/integration_code
COPY setup.py README.md ./
COPY connector_kit ./connector_kit
COPY listmonk_client ./listmonk_client
COPY destination_listmonk ./destination_listmonk
COPY source_listmonk ./source_listmonk
RUN pip install --no-cache-dir --use-pep517 ${PIP_CERT:+--cert "$PIP_CERT"} . \
    && (id -u airbyte >/dev/null 2>&1 || useradd --uid 1000 --create-home airbyte)
USER airbyte

FROM install AS source
ENV AIRBYTE_ENTRYPOINT="source-listmonk"
ENTRYPOINT ["source-listmonk"]
LABEL io.airbyte.name=airbyte/source-listmonk
LABEL io.airbyte.version=0.6.0

FROM install AS destination
ENV AIRBYTE_ENTRYPOINT="destination-listmonk"
ENTRYPOINT ["destination-listmonk"]
LABEL io.airbyte.name=airbyte/destination-listmonk
LABEL io.airbyte.version=0.6.0
