# Multi-stage build: compile with the dev toolchain, ship only dist/ and runtime deps.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY scripts ./scripts
COPY protocol ./protocol
COPY platform ./platform
COPY broker ./broker
COPY client ./client
COPY cli ./cli
COPY tests ./tests
COPY bench ./bench
COPY examples ./examples
RUN npm ci --no-fund --no-audit && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
# The broker runs as an unprivileged user that owns its data directory (the volume below:
# Docker copies this ownership into a new named volume).
RUN groupadd --system --gid 10001 spool && useradd --system --uid 10001 --gid spool --home-dir /data --no-create-home spool \
 && mkdir -p /data && chown spool:spool /data
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/protocol ./dist/protocol
COPY --from=build /app/dist/platform ./dist/platform
COPY --from=build /app/dist/broker ./dist/broker
COPY --from=build /app/dist/client ./dist/client
COPY --from=build /app/dist/cli ./dist/cli
# What scripts/build-web.mjs bundled: the web console, the browser SDK, the browser example.
COPY --from=build /app/dist/console ./dist/console
COPY --from=build /app/dist/browser ./dist/browser
COPY --from=build /app/dist/examples ./dist/examples
VOLUME /data
EXPOSE 7420 7421 1883
USER spool:spool
ENTRYPOINT ["node", "dist/cli/spool.js"]
# Listening on every interface of the container, so authentication is on: the first start
# creates the super user "admin" with the password in SPOOL_ADMIN_PASSWORD, or generates one
# and prints it once (docker logs). `spool user` / `spool acl` run in the container manage
# the rest (docker exec <container> node dist/cli/spool.js user add alice --data-dir /data).
CMD ["broker", "start", "--data-dir", "/data", "--host", "0.0.0.0", "--auth", "--bootstrap-admin", "admin"]
