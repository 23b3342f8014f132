# The benchmark's baseline node (vanilla go-libp2p-kad-dht,
# scripts/bench/baseline) as a container, so that its latency across
# containers can be measured next to dhtnode's (BENCHMARKS.md "Across
# containers"). For benchmarks only: never shipped. Build it with
# scripts/image.sh --baseline [TAG], whose build context holds
#   baseline  the static binary
#   data/     an empty directory (unused: the baseline keeps records in memory)
FROM scratch

COPY baseline /baseline

USER 10001:10001
EXPOSE 4001/tcp 5001/tcp

# Same ports as dhtnode's image: libp2p on 4001 (TCP), the API on 5001 of
# every address of the container (the baseline's API has no token). Flags
# after the image name (e.g. -bootstrap) are appended.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/baseline", "-listen", "/ip4/0.0.0.0/tcp/4001", "-api", "0.0.0.0:5001"]
