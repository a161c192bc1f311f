# syntax=docker/dockerfile:1
# Container images of Switchboard, built from this repository (context: the repository root).
# CI does not build them (its machines have no container daemon); deploy/ is validated there.
#
#   docker build -t switchboard:0.1.0 .                                        the proxy
#   docker build --target counter-example -t switchboard-counter-example:0.1.0 .   the example user function
# Node 24: the same proxy build spends about 0.65-0.80x the CPU per call it spends on Node 20
# (bench/RESULTS.md); better-sqlite3 is built from source below when no prebuilt binary fits.
ARG NODE_IMAGE=node:24-slim

FROM ${NODE_IMAGE} AS build
# better-sqlite3 compiles from source when no prebuilt binary matches the platform.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# npm ci builds every package (the root prepare script); then pack them as they are published.
RUN npm ci --no-audit --no-fund \
 && mkdir /packs \
 && npm pack --pack-destination /packs -w @switchboard/protocol -w @switchboard/sdk -w @switchboard/proxy
# The proxy with its runtime dependencies only, installed from the tarballs as a user would.
WORKDIR /opt/switchboard
RUN echo '{"name":"switchboard-image","private":true,"type":"module"}' > package.json \
 && npm install --omit=dev --no-audit --no-fund /packs/switchboard-protocol-*.tgz /packs/switchboard-proxy-*.tgz
# The counter example (examples/counter) on the SDK.
WORKDIR /opt/counter
RUN echo '{"name":"counter-example","private":true,"type":"module"}' > package.json \
 && npm install --omit=dev --no-audit --no-fund /packs/switchboard-protocol-*.tgz /packs/switchboard-sdk-*.tgz \
 && cp -r /src/examples/counter/dist ./dist

# The example user function: listens on HOST:PORT (the pod's loopback, port 8080).
FROM ${NODE_IMAGE} AS counter-example
ENV NODE_ENV=production HOST=127.0.0.1 PORT=8080
COPY --from=build /opt/counter /opt/counter
USER 1000:1000
WORKDIR /home/node
CMD ["node", "/opt/counter/dist/main.js"]

# The proxy (the default target). A numeric user, so Kubernetes can check runAsNonRoot.
FROM ${NODE_IMAGE} AS proxy
ENV NODE_ENV=production
COPY --from=build /opt/switchboard /opt/switchboard
USER 1000:1000
WORKDIR /home/node
# front port (gRPC, HTTP/JSON, probes), admin port (metrics), cluster port
EXPOSE 9000 9001 9100
ENTRYPOINT ["node", "/opt/switchboard/node_modules/@switchboard/proxy/bin/switchboard.mjs"]
CMD ["start"]
